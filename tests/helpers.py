"""ApiClient: calls the app through its full dispatcher and checks replies against the schemas; users
of a company (make_user), and apps built with changed settings (app_with)."""

from __future__ import annotations

import base64
import copy
import functools
import json
import secrets
from contextlib import contextmanager
from pathlib import Path

from falcon import testing

from database.collections import users_db
from server.config import DEFAULT_SCHEMA_DIR, load_config
from server.contract.schema_registry import load_registry
from server.http.app import build_state, create_app
from services.handlers import all_handlers

# The two companies of tests that build their own app over a database of their own (app_config); the
# `client` and `other_client` fixtures are users of new companies instead (new_company).
COMPANY_A = "company_a_" + "0" * 22
COMPANY_B = "company_b_" + "0" * 22


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
def _parsed_defaults():
    return load_config(env={})


def default_config(overrides: dict | None = None):
    """config/default.conf with `overrides` (dotted keys), as load_config(overrides, env={}) gives it:
    parsed once per process (a parse takes a tenth of a second), then copied."""
    config = copy.deepcopy(_parsed_defaults())
    for key, value in (overrides or {}).items():
        config.put(key, value)
    return config


@functools.cache
def shipped_registry():
    """The registry of the shipped schema folder, loaded once per process (it takes seconds) and shared by
    the fixtures and the tests that generate cases from it."""
    return load_registry(DEFAULT_SCHEMA_DIR, all_handlers().keys())


@functools.cache
def schema_specs() -> dict:
    """Every resource's query spec as the app completes it from the shipped schema files."""
    from database.collections.scope import query_specs

    return query_specs({name: [v.request_schema for v in vs] for name, vs in shipped_registry().endpoints.items()})


def worker_pids(master_pid: int) -> list[int]:
    """The gunicorn workers (children) of the arbiter `master_pid`, from /proc."""
    children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    return [int(pid) for pid in children]


def new_company(letter: str) -> str:
    """A company id no other test uses, as long as COMPANY_A: "company_<letter>_" and random hex."""
    prefix = f"company_{letter}_"
    return prefix + secrets.token_hex(16)[: len(COMPANY_A) - len(prefix)]


def make_user(app, name: str, company: str, role: str = "user", company_name: str = "") -> ApiClient:
    db = app.modelreg_state.stores.db
    user = users_db.create_user(db, name, company, company_name or name + "-co", role)
    key, secret = "K" + secrets.token_hex(8).upper(), secrets.token_urlsafe(24)
    users_db.add_credential(db, user, key, secret)
    return ApiClient(app, basic(key, secret), {"user": user["_id"], "company": company, "key": key, "secret": secret})


@contextmanager
def app_with(app_config, registry, settings: dict):
    """The app built with these settings changed, closed after the block."""
    for key, value in settings.items():
        app_config.put(key, value)
    application = create_app(app_config, build_state(app_config, registry))
    try:
        yield application
    finally:
        application.modelreg_state.stores.db.client.close()


@contextmanager
def call_log_in(folder: Path, log_format: str):
    """This process's call lines written to a file under `folder` in `log_format`; yields the file."""
    from server.http import call_log

    path = call_log.configure(default_config({"server.data_dir": str(folder), "log.format": log_format}))
    try:
        yield path
    finally:
        call_log.stop()
