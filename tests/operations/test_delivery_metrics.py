"""A real delivery process (`python -m server deliver`) writes its counters into the metrics folder of the
live server's gunicorn, so the API's /metrics shows webhook deliveries, failed attempts and the
change-log lag gauge."""

from __future__ import annotations

import os
import re
import uuid
from datetime import datetime, timezone

import pytest
import requests

from database import connection
from server.config import load_config
from server.process import gunicorn_hooks
from tests.webhook_support import Receiver, start_deliverer, stop_deliverer, wait_for

pytestmark = pytest.mark.e2e


def _metric(text: str, name: str) -> float | None:
    found = re.findall(rf"^{name}(?:\{{[^}}]*\}})? (\S+)$", text, re.M)
    return sum(float(v) for v in found) if found else None


def _metrics(server) -> str:
    reply = requests.get(server.url + "/metrics", timeout=10)
    assert reply.status_code == 200
    return reply.text


def _add_webhook(db, company: str, url: str) -> str:
    """Written directly: the live server's outbound guard refuses loopback URLs at webhooks.create."""
    now = datetime.now(timezone.utc)
    head = db["change_log_heads"].find_one({"_id": company}) or {}
    hook = uuid.uuid4().hex
    db["webhooks"].insert_one({"_id": hook, "company": company, "user": "u1", "url": url, "kinds": ["*"],
                               "secret": "s" * 16, "created": now, "last_update": now, "state": "active",
                               "failing_since": None, "last_error": None, "cursor": int(head.get("last_seq", 0)),
                               "retry_at": None, "queued": False, "lease_holder": None, "lease_expires": None})
    return hook


@pytest.fixture
def deliverer(live_server, tmp_path):
    folder = gunicorn_hooks.folder_of(load_config(env=live_server.env).get("server.data_dir"),
                                      live_server.process.pid)
    env = {**os.environ, **live_server.env, gunicorn_hooks.ENV: str(folder),
           "MODELREG_OUTBOUND_ALLOW_PRIVATE_NETWORKS": "true", "MODELREG_WEBHOOKS_POLL_INTERVAL_SEC": "0.1",
           "MODELREG_WEBHOOKS_ATTEMPT_TIMEOUT_SEC": "2", "MODELREG_WEBHOOKS_BACKOFF_BASE_SEC": "1",
           "MODELREG_WEBHOOKS_BACKOFF_MAX_SEC": "1"}
    process, log = start_deliverer(env, tmp_path / "deliver.log")
    yield process
    stop_deliverer(process, log)


def test_deliveries_and_failures_reach_the_apis_metrics(live_server, deliverer):
    good, bad = Receiver(), Receiver(status=500)
    db = connection.connect(live_server.mongo_uri, live_server.database)
    hooks = [_add_webhook(db, live_server.company, good.url("ok")),
             _add_webhook(db, live_server.company, bad.url("broken"))]
    try:
        before = _metrics(live_server)
        delivered = _metric(before, "modelreg_webhook_deliveries_total") or 0.0
        failed = _metric(before, "modelreg_webhook_failures_total") or 0.0
        made = requests.post(live_server.url + "/models.create", json={"name": "metrics probe", "uri": "s3://b/k"},
                             auth=(live_server.access_key, live_server.secret_key), timeout=30)
        assert made.status_code == 200, made.text
        wait_for(lambda: good.delivered() and len(bad.received) >= 2, timeout=60)

        def counted() -> bool:
            text = _metrics(live_server)
            return ((_metric(text, "modelreg_webhook_deliveries_total") or 0) > delivered
                    and (_metric(text, "modelreg_webhook_failures_total") or 0) >= failed + 2)

        wait_for(counted, timeout=30)
        text = _metrics(live_server)
        # the lag gauge is the delivery process's: the broken webhook's entry is still waiting
        assert _metric(text, "modelreg_change_log_lag_seconds") is not None
        assert (_metric(text, "modelreg_webhook_rounds_total") or 0) > 0
        wait_for(lambda: (_metric(_metrics(live_server), "modelreg_change_log_lag_seconds") or 0) > 0, timeout=30)
        assert "broken" not in text and live_server.company not in text
    finally:
        db["webhooks"].delete_many({"_id": {"$in": hooks}})
        db.client.close()
        good.close()
        bad.close()
