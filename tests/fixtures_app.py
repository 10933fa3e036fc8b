"""Fixtures that build the app (full dispatcher) over the real database, with two companies."""

from __future__ import annotations

import os
import secrets
from contextlib import contextmanager

import pytest

from database.collections import users_db
from server.config import load_config, schema_dir
from server.contract.schema_registry import load_registry
from server.http.app import build_state, create_app
from services.handlers import all_handlers
from tests.helpers import ApiClient, basic

COMPANY_A = "company_a_" + "0" * 22
COMPANY_B = "company_b_" + "0" * 22


@pytest.fixture(scope="session")
def registry():
    """Loading the schema files takes a while; every test shares one registry."""
    config = load_config(env={k: v for k, v in os.environ.items() if k == "MODELREG_SERVER_SCHEMA_DIR"})
    return load_registry(schema_dir(config), all_handlers().keys())


@pytest.fixture
def app_config(mongo_uri, db_name):
    return load_config(
        overrides={
            "mongo.uri": mongo_uri,
            "mongo.database": db_name,
            "mongo.timeout_ms": 3000,
            "auth.token_secret": secrets.token_hex(32),
            "auth.default_company": COMPANY_A,
        },
        env={},
    )


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


@pytest.fixture
def app(app_config, registry, db):
    application = create_app(app_config, build_state(app_config, registry))
    yield application
    application.modelreg_state.stores.db.client.close()


def make_user(app, name: str, company: str, role: str = "user", company_name: str = "") -> ApiClient:
    db = app.modelreg_state.stores.db
    user = users_db.create_user(db, name, company, company_name or name + "-co", role)
    key, secret = "K" + secrets.token_hex(8).upper(), secrets.token_urlsafe(24)
    users_db.add_credential(db, user, key, secret)
    client = ApiClient(app, basic(key, secret), {"user": user["_id"], "company": company, "key": key, "secret": secret})
    return client


@pytest.fixture
def client(app) -> ApiClient:
    """An admin of company A."""
    return make_user(app, "alice", COMPANY_A, role="admin")


@pytest.fixture
def other_client(app) -> ApiClient:
    """A user of company B."""
    return make_user(app, "bob", COMPANY_B, role="user")


@pytest.fixture
def anon(app) -> ApiClient:
    return ApiClient(app)
