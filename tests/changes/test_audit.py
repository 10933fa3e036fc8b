"""The change log through audit.*, changes.get_since and models.get_at: what writes record, who may
read it, the hash chain, secrets, the long poll, cursors and retention."""

from __future__ import annotations

import json
import threading
import time

import pytest

from database.collections import change_log_db
from services.changes import retention
from tests.helpers import codes, make_user

V = "2.99"


def entries(client, **filters) -> list[dict]:
    return client.ok("audit.get_all", {"page_size": 1000, **filters}, version=V)["entries"]


def test_a_created_and_published_model_is_on_record(client):
    model = client.ok("models.create", {"name": "m-audit", "uri": "s3://b/m.pt", "ready": False},
                      version="2.13")["id"]
    client.ok("models.edit", {"model": model, "comment": "second"}, version="2.13")
    client.ok("models.publish_many", {"ids": [model]}, version="2.13")
    found = entries(client, target=model)
    kinds = [e["kind"] for e in reversed(found)]
    assert kinds[0] == "model.created" and "model.edited" in kinds and "model.published" in kinds, kinds
    created = found[-1]
    assert created["user"] == client.identity["user"] and created["company"] == client.identity["company"]
    assert created["target"] == {"type": "model", "id": model, "name": "m-audit"}
    assert created["endpoint"] == "models.create" and created["version"] == "2.13" and created["trx"]
    assert created["changes"]["before"] is None and created["changes"]["after"]["uri"] == "s3://b/m.pt"
    edited = next(e for e in found if e["kind"] == "model.edited")
    assert edited["changes"]["after"]["comment"] == "second"
    assert edited["changes"]["before"]["comment"] is None  # the handler had read the model before
    seqs = [e["seq"] for e in found]
    assert seqs == sorted(seqs, reverse=True)


def test_sequence_numbers_are_gapless_in_order_of_the_writes(client):
    for n in range(5):
        client.ok("projects.create", {"name": f"p-seq-{n}"}, version="2.13")
    found = list(reversed(entries(client, target_type="project")))
    assert [e["seq"] for e in found] == list(range(found[0]["seq"], found[0]["seq"] + 5))
    assert [e["target"]["name"] for e in found] == [f"p-seq-{n}" for n in range(5)]


def test_guest_is_refused_the_audit_an_auditor_reads_it_and_another_company_sees_nothing(app, client, other_client):
    client.ok("projects.create", {"name": "p-private"}, version="2.13")
    guest = make_user(app, "g", client.identity["company"], role="guest")
    auditor = make_user(app, "a", client.identity["company"], role="auditor")
    user = make_user(app, "u", client.identity["company"], role="user")
    assert codes(guest.error("audit.get_all", {}, version=V)) == (403, 20)
    assert codes(guest.error("changes.get_since", {}, version=V)) == (403, 20)
    assert codes(user.error("audit.get_all", {}, version=V)) == (403, 20)
    assert any(e["target"]["name"] == "p-private" for e in entries(auditor))
    assert auditor.ok("audit.verify", {}, version=V)["ok"]
    # an auditor reads, never writes
    assert codes(auditor.error("projects.create", {"name": "nope"}, version="2.13")) == (403, 20)
    other_admin = make_user(app, "adm", other_client.identity["company"], role="admin")
    assert entries(other_admin) == []
    assert other_client.ok("changes.get_since", {}, version=V)["entries"] == []
    assert other_admin.ok("audit.verify", {}, version=V) == {"ok": True, "checked": 0, "first_break": None}


def test_an_entry_edited_in_the_database_breaks_the_chain_at_its_seq(app, client):
    for n in range(4):
        client.ok("projects.create", {"name": f"p-chain-{n}"}, version="2.13")
    assert client.ok("audit.verify", {}, version=V) == {"ok": True, "checked": 4, "first_break": None}
    victim = entries(client)[1]
    db = app.modelreg_state.stores.db
    db[change_log_db.CHANGE_LOG].update_one({"company": client.identity["company"], "seq": victim["seq"]},
                                            {"$set": {"target.name": "forged"}})
    reply = client.ok("audit.verify", {}, version=V)
    assert reply["ok"] is False and reply["first_break"] == {"seq": victim["seq"]}


def test_a_deleted_last_entry_breaks_the_chain(app, client):
    for n in range(3):
        client.ok("projects.create", {"name": f"p-tail-{n}"}, version="2.13")
    last = entries(client)[0]
    app.modelreg_state.stores.db[change_log_db.CHANGE_LOG].delete_one(
        {"company": client.identity["company"], "seq": last["seq"]})
    assert client.ok("audit.verify", {}, version=V)["first_break"] == {"seq": last["seq"]}


def test_secrets_never_reach_the_log(app, client):
    created = client.ok("auth.create_credentials", {}, version="2.1")["credentials"]
    everything = str(entries(client)) + str(list(app.modelreg_state.stores.db[change_log_db.CHANGE_LOG].find(
        {"company": client.identity["company"]})))
    assert created["access_key"] in everything
    assert created["secret_key"] not in everything
    stored = app.modelreg_state.stores.db["credentials"].find_one({"_id": created["access_key"]})
    assert stored["digest"] not in everything and stored["salt"] not in everything
    assert client.identity["secret"] not in everything


def test_the_feed_resumes_from_any_cursor(client):
    first = client.ok("changes.get_since", {}, version=V)
    for n in range(3):
        client.ok("projects.create", {"name": f"p-feed-{n}"}, version="2.13")
    page = client.ok("changes.get_since", {"cursor": first["cursor"], "limit": 2}, version=V)
    assert [e["target"]["name"] for e in page["entries"]] == ["p-feed-0", "p-feed-1"]
    rest = client.ok("changes.get_since", {"cursor": page["cursor"]}, version=V)
    assert [e["target"]["name"] for e in rest["entries"]] == ["p-feed-2"]
    again = client.ok("changes.get_since", {"cursor": page["cursor"]}, version=V)
    assert again == rest
    kinds = client.ok("changes.get_since", {"cursor": first["cursor"], "kinds": ["model.created"]}, version=V)
    assert kinds["entries"] == []
    assert codes(client.error("changes.get_since", {"cursor": "not-a-cursor"}, version=V))[0] == 400


def test_a_long_poll_returns_when_a_change_arrives(client):
    cursor = client.ok("changes.get_since", {}, version=V)["cursor"]
    got: dict = {}

    def poll():
        got["reply"] = client.ok("changes.get_since", {"cursor": cursor, "wait_sec": 20}, version=V)

    poller = threading.Thread(target=poll)
    poller.start()
    time.sleep(0.5)
    assert poller.is_alive()  # nothing has changed yet: it waits
    client.ok("projects.create", {"name": "p-awaited"}, version="2.13")
    poller.join(25)
    assert not poller.is_alive()
    assert [e["target"]["name"] for e in got["reply"]["entries"]] == ["p-awaited"]


def test_a_cursor_older_than_retention_is_refused_naming_the_field(app, client):
    for n in range(3):
        client.ok("projects.create", {"name": f"p-old-{n}"}, version="2.13")
    found = list(reversed(entries(client)))
    db = app.modelreg_state.stores.db
    company = client.identity["company"]
    # the first two entries made long ago, then the sweep with a retention of a year
    cut = db[change_log_db.CHANGE_LOG].find_one({"company": company, "seq": found[2]["seq"]})["time"]
    db[change_log_db.CHANGE_LOG].update_many({"company": company, "seq": {"$lte": found[1]["seq"]}},
                                             {"$set": {"time": cut.replace(year=2000)}})
    assert retention.sweep(db, 0, company) == 0  # 0 keeps everything
    assert retention.sweep(db, 365, company) == 2
    meta = client.error("changes.get_since", {"cursor": str(found[0]["seq"] - 1)}, version=V)
    assert codes(meta) == (400, 1131) and "cursor" in meta["result_msg"]
    start = client.ok("changes.get_since", {}, version=V)
    assert [e["seq"] for e in start["entries"]] == [found[2]["seq"]]
    assert client.ok("audit.verify", {}, version=V)["ok"]


def test_models_get_at_shows_a_model_and_an_alias_as_they_were(client):
    first = client.ok("models.create", {"name": "reg", "uri": "s3://b/1.pt"}, version="2.13")["id"]
    second = client.ok("models.create", {"name": "reg", "uri": "s3://b/2.pt"}, version="2.13")["id"]
    client.ok("models.set_alias", {"model": first, "alias": "prod"}, version=V)
    time.sleep(0.05)
    between = client.ok("server.info", {}, version="2.13") and _now()
    time.sleep(0.05)
    client.ok("models.edit", {"model": first, "comment": "later"}, version="2.13")
    client.ok("models.set_alias", {"model": second, "alias": "prod"}, version=V)
    then = client.ok("models.get_at", {"model": first, "at": between}, version=V)
    assert then["from_log"] and then["model"]["id"] == first and not then["model"].get("comment")
    now = client.ok("models.get_at", {"model": first, "at": _now()}, version=V)
    assert now["model"]["comment"] == "later"
    by_alias = client.ok("models.get_at", {"name": "reg", "alias": "prod", "at": between}, version=V)
    assert by_alias["alias_target"] == first and by_alias["model"]["uri"] == "s3://b/1.pt"
    latest = client.ok("models.get_at", {"name": "reg", "alias": "prod", "at": _now()}, version=V)
    assert latest["alias_target"] == second
    before = client.ok("models.get_at", {"model": first, "at": "2000-01-01T00:00:00Z"}, version=V)
    assert before["model"] is None


def _now() -> str:
    from database import clock
    return clock.now().isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("enabled", [False])
def test_recording_can_be_switched_off(app_config, registry, enabled):
    from tests.helpers import app_with, new_company
    with app_with(app_config, registry, {"change_log.enabled": enabled}) as application:
        admin = make_user(application, "adm", new_company("z"), role="admin")
        admin.ok("projects.create", {"name": "p-unlogged"}, version="2.13")
        assert admin.ok("audit.get_all", {}, version=V)["entries"] == []


def test_the_audit_trail_exports_as_ndjson(client):
    for n in range(3):
        client.ok("projects.create", {"name": f"p-export-{n}"}, version="2.13")
    result = client.raw(f"/v{V}/audit.get_all", body={"target_type": "project"},
                        headers={"Accept": "application/x-ndjson"})
    assert result.status_code == 200 and result.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in result.content.split(b"\n") if line]
    assert lines == entries(client, target_type="project")
    assert [e["target"]["name"] for e in lines] == [f"p-export-{n}" for n in (2, 1, 0)]


def test_users_and_key_pairs_a_server_role_manages_are_logged_in_their_own_company(app, client):
    """Root making or removing a user of another company writes that company's history: its auditors
    see it, and nothing of it (names, roles, access keys) reaches root's own company's feed or audit."""
    root = make_user(app, "root", client.identity["company"], role="root")
    before = root.ok("changes.get_since", {}, version=V)["cursor"]
    made = root.ok("auth.create_user", {"name": "carol", "company": "companyC", "company_name": "Company C Secret",
                                        "role": "admin"}, version="2.1")
    root.ok("auth.delete_user", {"user": made["id"]}, version="2.1")
    feed = root.ok("changes.get_since", {"cursor": before}, version=V)["entries"]
    assert not [e for e in feed if "Company C" in json.dumps(e) or "companyC" in json.dumps(e)], feed
    assert not [e for e in entries(root) if e["target"]["type"] in ("user", "credential")
                and e["trx"] and "carol" in json.dumps(e)]
    c_auditor = make_user(app, "c-auditor", "companyC", role="auditor")
    logged = entries(c_auditor, target=made["id"])
    assert [e["kind"] for e in logged] == ["user.deleted", "user.created"]
    assert {e["company"] for e in logged} == {"companyC"} and {e["user"] for e in logged} == {root.identity["user"]}
    credentials = [e for e in entries(c_auditor, target_type="credential") if e["endpoint"] == "auth.create_user"]
    assert len(credentials) == 1 and credentials[0]["company"] == "companyC"
    assert c_auditor.ok("audit.verify", {}, version=V)["ok"]
