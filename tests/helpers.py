"""ApiClient: calls the app through its full dispatcher and checks replies against the schemas."""

from __future__ import annotations

import base64
import functools
import json
from pathlib import Path

from falcon import testing


def basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


class ApiClient:
    def __init__(self, app, authorization: str | None = None, identity: dict | None = None):
        self.app = app
        self.test_client = testing.TestClient(app)
        self.authorization = authorization
        self.identity = identity or {}

    @property
    def registry(self):
        return self.app.modelreg_state.registry

    def raw(
        self, path: str, body=None, method: str = "POST", headers: dict | None = None, query_string: str | None = None
    ):
        hdrs = {}
        if self.authorization:
            hdrs["Authorization"] = self.authorization
        hdrs.update(headers or {})
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            hdrs.setdefault("Content-Type", "application/json")
        return self.test_client.simulate_request(method, path, body=body, headers=hdrs, query_string=query_string)

    def call(self, endpoint: str, data: dict | None = None, version: str | None = None, **kwargs):
        path = f"/v{version}/{endpoint}" if version else f"/{endpoint}"
        return self.raw(path, data if data is not None else {}, **kwargs)

    def ok(self, endpoint: str, data: dict | None = None, version: str | None = None, **kwargs) -> dict:
        result = self.call(endpoint, data, version, **kwargs)
        body = result.json
        assert result.status_code == 200, body["meta"] if isinstance(body, dict) and "meta" in body else result.text
        meta = body["meta"]
        assert meta["result_code"] == 200 and meta["result_msg"] == "OK"
        endpoint_version = self.registry.resolve(
            endpoint, tuple(int(p) for p in meta["endpoint"]["actual_version"].split("."))
        )
        errors = list(endpoint_version.response_validator.iter_errors(body["data"]))
        assert not errors, (
            f"reply breaks the {endpoint} response schema: {errors[0].message} at {list(errors[0].absolute_path)}"
        )
        return body["data"]

    def error(self, endpoint: str, data: dict | None = None, version: str | None = None, **kwargs) -> dict:
        """The meta of a call that must fail, with its HTTP status checked against result_code."""
        result = self.call(endpoint, data, version, **kwargs)
        body = result.json
        meta = body["meta"]
        assert meta["result_code"] != 200, body
        assert result.status_code == meta["result_code"]
        assert body["data"] == {}
        return meta


def codes(meta: dict) -> tuple[int, int]:
    return meta["result_code"], meta["result_subcode"]


@functools.cache
def schema_specs() -> dict:
    """Every resource's query spec as the app completes it from the shipped schema files."""
    from database.collections.scope import query_specs
    from server.config import load_config, schema_dir
    from server.contract.schema_registry import load_schemas

    registry, problems = load_schemas(schema_dir(load_config(env={})))
    assert registry is not None, problems
    return query_specs({name: [v.request_schema for v in vs] for name, vs in registry.endpoints.items()})


def worker_pids(master_pid: int) -> list[int]:
    """The gunicorn workers (children) of the arbiter `master_pid`, from /proc."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return [int(pid) for pid in children]
