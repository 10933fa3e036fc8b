"""The operator's endpoints, outside the RPC dispatcher and without credentials of the API:

- `GET /healthz`: the process answers (no database call), for liveness probes.
- `GET /readyz`: the database and the object store answer within probes.deadline_sec and the schema is
  loaded; 503 naming the part that failed otherwise, for load balancers and readiness probes.
- `GET /metrics`: Prometheus text format, summed over the workers. Open on loopback; any other caller,
  and any request a proxy forwarded (X-Forwarded-For), must send `Authorization: Bearer <metrics.token>`.
"""

from __future__ import annotations

import hmac
import ipaddress
import json

import falcon

from services.shared import metrics
from services.system import health


def _json(resp: falcon.Response, status: int, body: dict) -> None:
    resp.status = status
    resp.content_type = "application/json"
    resp.set_header("Cache-Control", "no-store")
    resp.data = json.dumps(body).encode()


def _loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


class Healthz:
    def on_get(self, _req, resp):
        _json(resp, 200, {"status": "ok"})


class Readyz:
    def __init__(self, state, deadline_sec: float):
        self.state = state
        self.deadline_sec = deadline_sec

    def on_get(self, _req, resp):
        found = health.problems(self.state.stores, self.deadline_sec)
        if not self.state.registry or not self.state.registry.endpoints:
            found["schema"] = "no endpoints loaded"
        if found:
            _json(resp, 503, {"status": "unready", "failed": found})
            resp.set_header("Retry-After", "5")
        else:
            _json(resp, 200, {"status": "ready"})


class Metrics:
    def __init__(self, token: str):
        self.token = token

    def on_get(self, req, resp):
        if not self._allowed(req):
            resp.set_header("WWW-Authenticate", 'Bearer realm="metrics"')
            reason = ("send Authorization: Bearer <metrics.token>" if self.token
                      else "served on loopback only; set metrics.token to open it to others")
            _json(resp, 401 if self.token else 403, {"error": reason})
            return
        body, content_type = metrics.exposition()
        resp.content_type = content_type
        resp.data = body

    def _allowed(self, req) -> bool:
        if _loopback(req.remote_addr) and not req.get_header("X-Forwarded-For"):
            return True
        if not self.token:
            return False
        sent = req.get_header("Authorization") or ""
        scheme, _, value = sent.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip().encode(), self.token.encode())


def register(app: falcon.App, state, config) -> None:
    app.add_route("/healthz", Healthz())
    app.add_route("/readyz", Readyz(state, float(config.get("probes.deadline_sec", 2))))
    app.add_route("/metrics", Metrics(str(config.get("metrics.token", "") or "")))
