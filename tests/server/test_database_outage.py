"""The database going away mid-run gives clean 503 envelopes, and the service recovers."""

from __future__ import annotations

import secrets

from database.collections import users_db
from server.config import load_config
from server.http.app import build_state, create_app
from server.process.embedded import free_port, start_mongo
from tests.helpers import ApiClient, basic, codes


def test_a_lost_database_gives_a_503_envelope_and_no_traceback(tmp_path, registry):
    port = free_port()
    mongo = start_mongo(tmp_path / "mongo", port, tmp_path / "mongo.log")
    try:
        config = load_config(
            overrides={
                "mongo.uri": f"mongodb://127.0.0.1:{port}/",
                "mongo.database": "outage",
                "mongo.timeout_ms": 1000,
                "mongo.deadline_sec": 2,  # each call below waits out the deadline (10 s by default)
                "auth.token_secret": secrets.token_hex(32),
            },
            env={},
        )
        app = create_app(config, build_state(config, registry))
        db = app.modelreg_state.stores.db
        user = users_db.create_user(db, "ops", "company_outage", "outage", "admin")
        users_db.add_credential(db, user, "OUTAGEKEY", "outage-secret")
        client = ApiClient(app, basic("OUTAGEKEY", "outage-secret"))
        token = client.ok("auth.login")["token"]
        model_id = client.ok("models.create", {"name": "survivor", "uri": "s3://b/k"}, version="2.13")["id"]
    finally:
        mongo.stop()

    bearer = ApiClient(app, f"Bearer {token}")  # tokens need no database, so the call reaches the handler
    for endpoint, data in (
        ("models.get_all", {"name": "surv"}),
        ("models.edit", {"model": model_id, "comment": "lost"}),
        ("models.create", {"name": "never stored", "uri": "s3://b/k2"}),
    ):
        result = bearer.call(endpoint, data, version="2.13")
        meta = result.json["meta"]
        # 503 with Retry-After (it was once a 500/1): the database is away for now
        assert result.status_code == 503 and result.headers.get("Retry-After"), meta
        assert codes(meta) == (503, 1) and meta["result_msg"] == "Database is unavailable"
        assert "Traceback" not in meta["result_msg"] and "pymongo" not in meta["result_msg"].lower()
    assert codes(client.error("server.info")) == (503, 1)  # Basic auth needs the database

    mongo = start_mongo(tmp_path / "mongo", port, tmp_path / "mongo.log")  # same data folder
    try:
        model = bearer.ok("models.get_by_id", {"model": model_id}, version="2.13")["model"]
        assert model["name"] == "survivor" and model.get("comment", "") == ""
        assert bearer.ok("models.get_all", {"name": "never stored"}, version="2.13")["models"] == []
    finally:
        app.modelreg_state.stores.db.client.close()
        mongo.stop()
