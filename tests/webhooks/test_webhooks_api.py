"""webhooks.* through the dispatcher: admins only, company-scoped, the secret never returned, kinds and
URLs checked at write time, and the outbound guard's address rule on the URL."""

from __future__ import annotations

import pytest

from tests.helpers import app_with, codes, make_user, new_company
from tests.webhook_support import Receiver, add_entries, verify

X = "2.99"
SECRET = "s" * 32


@pytest.fixture
def private_app(app_config, registry, db):
    with app_with(app_config, registry, {"outbound.allow_private_networks": True}) as application:
        yield application


@pytest.fixture
def admin(private_app):
    return make_user(private_app, "admin", new_company("a"), role="admin")


@pytest.fixture
def receiver():
    remote = Receiver()
    yield remote
    remote.close()


def test_create_list_edit_delete_without_ever_returning_the_secret(admin, receiver, db):
    add_entries(db, admin.identity["company"], ["model.created", "model.edited"])
    created = admin.ok("webhooks.create", {"url": receiver.url(), "kinds": ["model.*"], "secret": SECRET}, version=X)
    assert set(created) == {"id"}
    listed = admin.ok("webhooks.get_all", {}, version=X)["webhooks"]
    assert [w["id"] for w in listed] == [created["id"]]
    hook = listed[0]
    assert hook["kinds"] == ["model.*"] and hook["state"] == "active" and hook["cursor"] == 2  # after the old ones
    assert SECRET not in str(listed) and "secret" not in hook
    edited = admin.ok("webhooks.edit", {"webhook": created["id"], "kinds": ["*"], "secret": "t" * 20}, version=X)
    assert edited["updated"] == 1 and edited["fields"]["secret"] is True
    assert "t" * 20 not in str(admin.ok("webhooks.get_all", {"ids": [created["id"]]}, version=X))
    generated = admin.ok("webhooks.create", {"url": receiver.url(), "kinds": ["*"]}, version=X)
    assert len(generated["secret"]) >= 32
    assert admin.ok("webhooks.delete", {"webhook": created["id"]}, version=X) == {"deleted": 1}
    assert [w["id"] for w in admin.ok("webhooks.get_all", {}, version=X)["webhooks"]] == [generated["id"]]


def test_ping_is_signed_and_recorded(admin, receiver):
    hook = admin.ok("webhooks.create", {"url": receiver.url("p"), "kinds": ["*"], "secret": SECRET}, version=X)["id"]
    reply = admin.ok("webhooks.test", {"webhook": hook}, version=X)
    assert reply["ok"] is True and reply["status"] == 200
    got = receiver.received[-1]
    assert got["headers"]["X-Modelreg-Event"] == "ping"
    assert got["headers"]["X-Modelreg-Delivery"] == reply["delivery"]
    assert verify(SECRET, got["body"], got["headers"]["X-Modelreg-Signature"])
    assert not verify("another secret, wrong", got["body"], got["headers"]["X-Modelreg-Signature"])
    assert not verify(SECRET, got["body"] + b" ", got["headers"]["X-Modelreg-Signature"])
    deliveries = admin.ok("webhooks.get_deliveries", {"webhook": hook}, version=X)["deliveries"]
    assert [(d["id"], d["kind"], d["state"]) for d in deliveries] == [(reply["delivery"], "ping", "delivered")]
    receiver.status = 500
    failed = admin.ok("webhooks.test", {"webhook": hook}, version=X)
    assert failed["ok"] is False and failed["status"] == 500


@pytest.mark.parametrize("kinds", [[], ["Model.created"], ["model.*.x"], ["*.created"], ["model..x"], [""]])
def test_bad_kinds_are_refused_naming_the_field(admin, receiver, kinds):
    meta = admin.error("webhooks.create", {"url": receiver.url(), "kinds": kinds, "secret": SECRET}, version=X)
    assert meta["result_code"] == 400 and "kinds" in meta["result_msg"]


@pytest.mark.parametrize("url", ["ftp://example.org/x", "http://user:pw@example.org/x", "http:///x", "not a url",
                                 "http://127.0.0.1:1/x", "http://localhost:1/x", "http://[::1]:1/x",
                                 "http://10.1.2.3/x", "http://192.168.0.1/x", "http://169.254.169.254/latest",
                                 "http://[fe80::1]/x", "http://0.0.0.0/x", "http://[::1/x", "http://ex\u2100ample.com/"])
def test_urls_the_guard_refuses_are_refused_at_create_and_edit(client, url):
    """The shared app keeps outbound.allow_private_networks false: loopback (also as a name resolving to
    it), private and link-local addresses are refused, naming `url`."""
    meta = client.error("webhooks.create", {"url": url, "kinds": ["*"], "secret": SECRET}, version=X)
    assert codes(meta) == (400, 12) and "url" in meta["result_msg"], meta


def test_edit_checks_the_url_too(app_config, registry, db):
    with app_with(app_config, registry, {"outbound.allow_private_networks": True}) as allowed:
        admin = make_user(allowed, "admin", new_company("a"), role="admin")
        hook = admin.ok("webhooks.create", {"url": "http://127.0.0.1:9/x", "kinds": ["*"], "secret": SECRET},
                        version=X)["id"]
    with app_with(app_config, registry, {"outbound.allow_private_networks": False}) as strict:
        admin.app = strict
        from falcon import testing

        admin.test_client = testing.TestClient(strict)
        meta = admin.error("webhooks.edit", {"webhook": hook, "url": "http://127.0.0.2:9/y"}, version=X)
        assert codes(meta) == (400, 12) and "url" in meta["result_msg"]
        # the stored URL is refused at delivery too: a ping fails in the guard and reaches nothing
        ping = admin.ok("webhooks.test", {"webhook": hook}, version=X)
        assert ping["ok"] is False and ping["status"] is None and "not allowed" in ping["error"]


def test_only_company_admins_manage_webhooks(private_app, admin, receiver):
    hook = admin.ok("webhooks.create", {"url": receiver.url(), "kinds": ["*"], "secret": SECRET}, version=X)["id"]
    company = admin.identity["company"]
    for role in ("guest", "user", "superuser"):
        member = make_user(private_app, role, company, role=role)
        for endpoint, body in (("webhooks.get_all", {}), ("webhooks.get_deliveries", {"webhook": hook}),
                               ("webhooks.create", {"url": receiver.url(), "kinds": ["*"]}),
                               ("webhooks.delete", {"webhook": hook}), ("webhooks.test", {"webhook": hook})):
            assert codes(member.error(endpoint, body, version=X)) == (403, 20), (role, endpoint)
    assert len(admin.ok("webhooks.get_all", {}, version=X)["webhooks"]) == 1
    assert not receiver.received


def test_another_companys_webhooks_and_deliveries_are_not_found(private_app, admin, receiver):
    hook = admin.ok("webhooks.create", {"url": receiver.url(), "kinds": ["*"], "secret": SECRET}, version=X)["id"]
    ping = admin.ok("webhooks.test", {"webhook": hook}, version=X)["delivery"]
    other = make_user(private_app, "other", new_company("b"), role="admin")
    for endpoint, body in (("webhooks.edit", {"webhook": hook, "url": receiver.url("evil")}),
                           ("webhooks.delete", {"webhook": hook}), ("webhooks.test", {"webhook": hook}),
                           ("webhooks.get_deliveries", {"webhook": hook}), ("webhooks.redeliver", {"webhook": hook})):
        assert codes(other.error(endpoint, body, version=X)) == (400, 1121), endpoint
    assert codes(other.error("webhooks.redeliver", {"delivery": ping}, version=X)) == (400, 1122)
    assert other.ok("webhooks.get_all", {"ids": [hook]}, version=X) == {"webhooks": []}
    assert len(receiver.received) == 1
    assert admin.ok("webhooks.get_all", {}, version=X)["webhooks"][0]["url"] == receiver.url()


def test_webhook_endpoints_do_not_exist_below_2_99(admin):
    assert admin.call("webhooks.get_all", {}, version="2.34").status_code == 404


def test_changes_made_before_a_webhook_was_created_are_not_sent_to_it(admin, receiver):
    """Entries are numbered a moment after their change: a webhook created right after some changes must
    start after them, not at the log's last numbered entry."""
    for n in range(3):
        admin.ok("models.create", {"name": f"before-{n}", "uri": "s3://b/x"}, version=X)
    created = admin.ok("webhooks.create", {"url": receiver.url(), "kinds": ["*"], "secret": SECRET}, version=X)
    cursor = admin.ok("webhooks.get_all", {"ids": [created["id"]]}, version=X)["webhooks"][0]["cursor"]
    feed = admin.ok("changes.get_since", {}, version=X)["entries"]
    made_before = [e["seq"] for e in feed if e["kind"] == "model.created"]
    assert len(made_before) == 3 and max(made_before) <= cursor
    assert [e["seq"] for e in feed if e["kind"] == "webhook.created"] == [cursor + 1]
