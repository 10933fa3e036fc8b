"""Roles mean what they say: the schema's `allow_roles` decides, and the read-only `guest` role may call
reads only, `/files` included. The write endpoints are those whose schema leaves guest out, so the
generated test covers every endpoint that exists, new ones too."""

from __future__ import annotations

import re

import pytest

from services.call import format_version
from tests.files.test_files_route import upload
from tests.files_support import visible_objects
from tests.helpers import COMPANY_A, codes, make_user, shipped_registry

V = "2.13"
GUEST = "guest"
# Endpoints every role keeps, the read-only one included (the SDK and the UI need them to start).
MUST_STAY_OPEN = {"auth.login", "auth.logout", "auth.get_credentials", "debug.ping", "server.info",
                  "models.get_all", "models.get_by_id", "projects.get_all", "tasks.get_all", "tasks.get_by_id"}
# What a read's name looks like; an endpoint open to guest under any other name is suspicious.
READ_NAME = re.compile(
    r"^(get_\w+|validate(_delete|_input)?|login|logout|ping|info|download|fixed_users_mode|supported_modes"
    r"|scalar_metrics_iter_histogram|(prepare_)?download_for_get_all)$")  # the table export: a read kept for later


def _registry():
    return shipped_registry()


def _all_versions():
    return [(ev.name, format_version(ev.version), ev) for vs in _registry().endpoints.values() for ev in vs]


WRITES = [(name, version) for name, version, ev in _all_versions() if not ev.role_allowed(GUEST)]
READS = [(name, version) for name, version, ev in _all_versions() if ev.role_allowed(GUEST)]


@pytest.fixture
def guest(app, client):
    return make_user(app, "gus", client.identity["company"], role=GUEST)


def test_the_registry_has_writes_and_reads():
    assert len(WRITES) > 40 and len(READS) > 20  # the split below is not vacuous


def test_every_write_endpoint_refuses_the_read_only_role(guest):
    """One app for all of them (an app per endpoint version would take a minute)."""
    wrong = {}
    for name, version in WRITES:
        meta = guest.error(name, {}, version=version)
        if codes(meta) != (403, 20) or "role=guest" not in meta["result_msg"]:
            wrong[f"{name}@{version}"] = meta["result_msg"]
    assert wrong == {}


def test_every_read_endpoint_serves_the_read_only_role(guest):
    refused = {}
    for name, version in READS:
        reply = guest.call(name, {}, version=version)
        if reply.status_code == 403:  # 200, or a 400 for the empty body: never a role refusal
            refused[f"{name}@{version}"] = reply.text
    assert refused == {}


def test_reads_stay_open_and_whatever_guest_may_call_is_named_like_a_read():
    registry = _registry()
    for name in MUST_STAY_OPEN:
        assert all(ev.role_allowed(GUEST) for ev in registry.endpoints[name]), name
    for name, _ in READS:
        assert READ_NAME.match(name.split(".", 1)[1]), f"{name} is open to read-only roles but not named as a read"
    admin_only = {name for name, vs in registry.endpoints.items() if not vs[-1].role_allowed("user")}
    # the change feed carries the before and after values of every change, like the audit trail: the
    # read-only guest is refused it (the auditor role reads both)
    admin_only |= {"changes.get_since"}
    for name in registry.endpoints:
        if name.split(".", 1)[1].startswith("get_") and name not in admin_only:
            assert (name, format_version(registry.endpoints[name][-1].version)) in READS, name


def test_admin_only_endpoints_refuse_plain_users(app, client, other_client):
    superuser = make_user(app, "sue", client.identity["company"], role="superuser")
    for caller in (other_client, superuser):
        for name in ("auth.create_user", "auth.get_users", "auth.delete_user", "auth.get_companies"):
            assert codes(caller.error(name, {"name": "x", "user": "x"}, version="2.1")) == (403, 20), name
    assert codes(client.error("auth.get_companies", version="2.1")) == (403, 20)


def test_guest_writes_once_accepted_are_refused_and_guest_reads_work(app, client, guest):
    """Eight guest writes that were once accepted, one by one; reads still see the company's data."""
    model = client.ok("models.create", {"name": "mmm", "uri": "s3://b/m.pt"}, version=V)["id"]
    project = client.ok("projects.create", {"name": "proj"}, version=V)["id"]
    task = client.ok("tasks.create", {"name": "ttt", "type": "training", "project": project}, version=V)["id"]
    writes = [
        ("models.create", {"name": "ggg", "uri": "s3://b/g.pt"}),
        ("models.edit", {"model": model, "name": "renamed"}),
        ("models.delete", {"model": model}),
        ("models.update_tags", {"ids": [model], "add_tags": ["x"]}),
        ("projects.create", {"name": "guest-project"}),
        ("tasks.edit", {"task": task, "name": "renamed"}),
        ("auth.create_credentials", {}),
    ]
    for name, body in writes:
        assert codes(guest.error(name, body, version="2.27" if name == "models.update_tags" else V)) == (403, 20)
    got = guest.ok("models.get_by_id", {"model": model}, version=V)["model"]
    assert got["name"] == "mmm" and not got.get("tags")
    assert [p["id"] for p in guest.ok("projects.get_all", {"id": [project]}, version=V)["projects"]] == [project]
    assert guest.ok("tasks.get_by_id", {"task": task}, version=V)["task"]["name"] == "ttt"
    assert len(guest.ok("auth.get_credentials", version="2.1")["credentials"]) == 1
    assert guest.ok("auth.login")["token"]


def test_files_guest_reads_but_never_writes(files_app, alice, s3, bucket):
    guest = make_user(files_app, "gus", COMPANY_A, role=GUEST)
    assert upload(alice, "/p/t.1/models/w.bin", b"weights").status_code == 200
    assert guest.raw("/files/p/t.1/models/w.bin", method="GET").content == b"weights"
    assert guest.raw("/files/p/t.1/models/w.bin", method="HEAD").status_code == 200
    refused = upload(guest, "/p/t.1/models/other.bin", b"guest bytes")
    assert refused.status_code == 403 and codes(refused.json["meta"]) == (403, 20)
    assert guest.raw("/files/p/t.1/models/w.bin", method="DELETE").status_code == 403
    assert len(visible_objects(s3, bucket)) == 1  # alice's file only, still there
    assert alice.raw("/files/p/t.1/models/w.bin", method="GET").content == b"weights"
