"""What the in-process app counts (prometheus-client's own registry when not under gunicorn): throttled
sign-ins, and transfers in flight going back to zero once a download ends."""

from __future__ import annotations

from base64 import b64decode

from prometheus_client import REGISTRY

from tests.helpers import COMPANY_A, make_user
from tests.security.test_throttle import PER_KEY, _login, throttled_app  # noqa: F401 - the fixture


def _value(name: str, labels: dict | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_refused_sign_ins_are_counted(throttled_app):  # noqa: F811
    client = make_user(throttled_app, "victim", COMPANY_A)
    access_key = b64decode(client.authorization.split()[1]).decode().split(":")[0]  # from its Basic header
    before = _value("modelreg_throttled_sign_ins_total")
    for _ in range(PER_KEY):
        assert _login(client, access_key, "wrong").status_code == 401
    assert _login(client, access_key, "wrong").status_code == 429
    assert _login(client, access_key, "wrong").status_code == 429
    assert _value("modelreg_throttled_sign_ins_total") == before + 2
    refused = [sample.value for metric in REGISTRY.collect() for sample in metric.samples
               if sample.name == "modelreg_calls_total" and sample.labels.get("endpoint") == "auth.login"
               and sample.labels.get("status") == "429"]
    assert sum(refused) >= 2


def test_calls_and_their_database_time_are_observed(client):
    labels = {"endpoint": "server.info"}
    before = _value("modelreg_call_database_seconds_count", labels)
    client.ok("server.info")
    assert _value("modelreg_call_database_seconds_count", labels) == before + 1
    assert _value("modelreg_transfers_in_flight") == 0
