"""Users and companies: company admins manage their own company only; companies and users elsewhere are
the server-level role's (`root`, held by the first admin). Through the full dispatcher."""

from __future__ import annotations

import pytest

from database.collections import users_db
from services.identity.first_admin import ensure_admin
from tests.files.test_files_route import upload
from tests.files_support import visible_objects
from tests.helpers import COMPANY_A, COMPANY_B, ApiClient, basic, codes, make_user

V = "2.13"


def _client_of(app, made: dict) -> ApiClient:
    creds = made["credentials"]
    return ApiClient(app, basic(creds["access_key"], creds["secret_key"]), {"user": made["id"],
                                                                              "company": made["company"]})


def test_company_admin_cannot_take_over_another_company(files_app, alice, s3, bucket):
    """A cross-company takeover: C's admin creating an admin in the default company is refused, and C
    reaches none of the default company's models or files."""
    root = make_user(files_app, "root", COMPANY_A, role="root")
    carol = _client_of(files_app, root.ok("auth.create_user", {"name": "carol", "company": "companyC",
                                                                "company_name": "C", "role": "admin"}, version="2.1"))
    model = alice.ok("models.create", {"name": "secret", "uri": "s3://b/secret.pt"}, version=V)["id"]
    assert upload(alice, "/p/t.1/models/secret.bin", b"private bytes").status_code == 200
    before_users = len(users_db.list_users(files_app.modelreg_state.stores.db))

    for role in ("admin", "user", "root", "system"):
        meta = carol.error("auth.create_user", {"name": "mallory", "company": COMPANY_A, "role": role}, version="2.1")
        assert codes(meta) == (403, 20), meta
    assert codes(carol.error("auth.create_user", {"name": "m", "company": "companyD"}, version="2.1")) == (403, 20)
    assert codes(carol.error("auth.create_user", {"name": "m", "role": "root"}, version="2.1")) == (403, 20)
    assert len(users_db.list_users(files_app.modelreg_state.stores.db)) == before_users

    assert codes(carol.error("models.get_by_id", {"model": model}, version=V)) == (400, 201)
    assert carol.raw("/files/p/t.1/models/secret.bin", method="GET").status_code == 404
    assert [key.split("/", 1)[0] for key in visible_objects(s3, bucket)] == [COMPANY_A]  # one object, A's
    assert alice.raw("/files/p/t.1/models/secret.bin", method="GET").content == b"private bytes"


def test_company_admin_manages_users_of_its_own_company(app, client):
    made = client.ok("auth.create_user", {"name": "dave", "role": "admin"}, version="2.1")
    assert made["company"] == client.identity["company"]
    dave = _client_of(app, made)
    assert dave.ok("server.info", version="2.12")
    named = client.ok("auth.create_user", {"name": "erin", "company": client.identity["company"]}, version="2.1")
    assert named["company"] == client.identity["company"]
    users = client.ok("auth.get_users", version="2.1")["users"]
    assert {u["name"] for u in users} == {"alice", "dave", "erin"}
    assert {u["company"] for u in users} == {client.identity["company"]}
    assert codes(client.error("auth.get_users", {"company": COMPANY_B}, version="2.1")) == (403, 20)


def test_admins_delete_only_their_own_users_and_never_root(app, client, other_client):
    root = make_user(app, "root", client.identity["company"], role="root")
    b_admin = make_user(app, "b-admin", other_client.identity["company"], role="admin")
    meta = b_admin.error("auth.delete_user", {"user": client.identity["user"]}, version="2.1")
    assert codes(meta) == (400, 10)
    assert codes(client.error("auth.delete_user", {"user": root.identity["user"]}, version="2.1")) == (403, 20)
    assert codes(client.error("auth.delete_user", {"user": client.identity["user"]}, version="2.1")) == (400, 0)
    assert codes(other_client.error("auth.delete_user", {"user": b_admin.identity["user"]}, version="2.1")) == (403, 20)
    assert client.ok("server.info", version="2.12") and root.ok("server.info", version="2.12")
    assert b_admin.ok("auth.delete_user", {"user": other_client.identity["user"]}, version="2.1") == {"deleted": 1}
    assert codes(other_client.error("server.info")) == (401, 22)
    assert root.ok("auth.delete_user", {"user": b_admin.identity["user"]}, version="2.1") == {"deleted": 1}


@pytest.mark.fresh_database  # lists every company
def test_only_the_server_level_role_lists_companies_and_creates_them(app, client, other_client):
    company_a, company_b = client.identity["company"], other_client.identity["company"]
    root = make_user(app, "root", company_a, role="root", company_name="default")
    for caller in (client, other_client):
        assert codes(caller.error("auth.get_companies", version="2.1")) == (403, 20)
    made = root.ok("auth.create_user", {"name": "x", "company": "companyC", "company_name": "C"}, version="2.1")
    assert made["company"] == "companyC"
    # a user in an existing company takes that company's name, whatever the request says
    root.ok("auth.create_user", {"name": "y", "company": company_b, "company_name": "renamed"}, version="2.1")
    companies = {c["id"]: c for c in root.ok("auth.get_companies", version="2.1")["companies"]}
    assert set(companies) == {company_a, company_b, "companyC"}
    assert companies["companyC"] == {"id": "companyC", "name": "C", "users": 1}
    assert companies[company_b]["name"] == "bob-co" and companies[company_b]["users"] == 2
    assert {u["name"] for u in root.ok("auth.get_users", {"company": "companyC"}, version="2.1")["users"]} == {"x"}


def _admin_config(app_config, key: str, secret: str):
    app_config.put("admin.key", key)
    app_config.put("admin.secret", secret)
    return app_config


def test_the_first_admin_is_root_and_an_existing_one_is_promoted(app_config, db):
    config = _admin_config(app_config, "FIRSTKEY", "first-secret-0123456789")
    assert ensure_admin(config, generated=True) == ("FIRSTKEY", "first-secret-0123456789")
    first = users_db.get_credential(db, "FIRSTKEY")
    assert first["role"] == "root" and users_db.get_user(db, first["user"])["role"] == "root"
    assert ensure_admin(config, generated=True) is None
    assert len(users_db.list_users(db)) == 1


def test_a_first_admin_made_before_the_root_role_is_promoted_on_start(app_config, db):
    old = users_db.create_user(db, "admin", COMPANY_A, "default", "admin")
    users_db.add_credential(db, old, "OLDKEY", "old-secret-0123456789", label="admin")
    other = users_db.create_user(db, "helper", COMPANY_A, "default", "admin")
    assert ensure_admin(_admin_config(app_config, "NEWKEY", "generated-secret-0123"), generated=True) is None
    assert users_db.get_user(db, old["_id"])["role"] == "root"
    assert users_db.get_credential(db, "OLDKEY")["role"] == "root"
    assert users_db.get_user(db, other["_id"])["role"] == "admin"
    assert users_db.get_credential(db, "NEWKEY") is None


def test_a_configured_admin_key_promotes_its_owner(app_config, db):
    owner = users_db.create_user(db, "ops", COMPANY_A, "default", "admin")
    users_db.add_credential(db, owner, "OPSKEY", "ops-secret-0123456789")
    assert ensure_admin(_admin_config(app_config, "OPSKEY", "ops-secret-0123456789")) is None
    assert users_db.get_user(db, owner["_id"])["role"] == "root"

