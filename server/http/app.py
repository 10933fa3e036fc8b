"""Builds the falcon app from configuration: schema registry, MongoDB, blob store, dispatcher."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

import falcon

from database import connection, indexes, migrations
from server.config import load_config, schema_dir
from server.contract.schema_registry import SchemaRegistry, load_registry
from server.http import docs_route, envelope, files_route, ops_route, registry_route, webapp_route
from server.http.auth_headers import TOKEN_COOKIE
from server.http.backpressure import ClosingStream, StallAwareStream, TransferSlots, drain_refused, refused
from server.http.dispatcher import Dispatcher, Outcome
from services.call import Stores, Version, format_version, parse_version
from services.handlers import all_handlers

log = logging.getLogger("modelreg.app")


@dataclass
class AppState:
    """Everything a call needs. `registry` is replaced whole on reload, never edited in place."""

    registry: SchemaRegistry
    handlers: dict
    stores: Stores
    api_version: Version
    max_json_body: int
    transfers: TransferSlots = field(default_factory=lambda: TransferSlots(0))  # shared by RPC and /files
    refused_body_drain: int = 0  # server.refused_body_drain_bytes (backpressure.drain_refused)

    def install_registry(self, registry: SchemaRegistry) -> None:
        self.api_version = max(self.api_version, registry.newest_version)
        self.stores.config.put("server.api_version_effective", format_version(self.api_version))
        self.stores.install_schemas({name: [v.request_schema for v in versions]
                                     for name, versions in registry.endpoints.items()})
        self.stores.request_validators = {name: versions[-1].validator for name, versions in registry.endpoints.items()}
        self.registry = registry


def _blob_store(config):
    if not config.get("s3.endpoint"):
        return None
    from database.storage.blobstore import BlobStore

    return BlobStore.from_config(config)


def open_stores(config) -> Stores:
    """The database and object store the settings name, without the app (backup and restore)."""
    mongo = config.get("mongo")
    db = connection.connect(mongo.get("uri"), mongo.get("database"), mongo.get("timeout_ms"))
    return Stores(db=db, blobs=_blob_store(config), config=config, token_secret="")


def build_state(config, registry: SchemaRegistry | None = None) -> AppState:
    handlers = all_handlers()
    registry = registry or load_registry(schema_dir(config), handlers.keys())
    mongo = config.get("mongo")
    if not mongo.get("uri"):
        raise RuntimeError("mongo.uri (MODELREG_MONGO_URI) is not set")
    token_secret = config.get("auth.token_secret")
    if not token_secret:
        raise RuntimeError("auth.token_secret (MODELREG_AUTH_TOKEN_SECRET) is not set")
    deadline_ms = int(float(mongo.get("deadline_sec", 0)) * 1000) or None
    journal = bool(mongo.get("journal", True))
    db = connection.connect(mongo.get("uri"), mongo.get("database"), mongo.get("timeout_ms"), deadline_ms,
                            journal=journal)
    # stored data of an older release is upgraded first; one host at a time, the others wait
    migrations.upgrade(db, mongo.get("uri"), mongo.get("timeout_ms"), journal,
                       float(config.get("migrations.lease_sec", 60)))
    indexes.ensure_indexes(db)
    # calls write unjournaled and end with one journal flush (Stores.acknowledged, database/connection.py)
    db = connection.grouped(db) if journal else db
    stores = Stores(db=db, blobs=_blob_store(config), config=config, token_secret=token_secret)
    state = AppState(
        registry=registry,
        handlers=handlers,
        stores=stores,
        api_version=parse_version(config.get("server.api_version")),
        max_json_body=int(config.get("server.max_json_body")),
        transfers=TransferSlots(int(config.get("server.max_transfers", 0)),
                                int(config.get("server.retry_after_sec", 5)),
                                int(config.get("server.max_transfers_per_company", 0))),
        refused_body_drain=int(config.get("server.refused_body_drain_bytes", 0)),
    )
    state.install_registry(registry)
    return state


class ApiSink:
    """Every path that no route claims goes through the dispatcher."""

    def __init__(self, dispatcher: Dispatcher):
        self.dispatcher = dispatcher

    def __call__(self, req: falcon.Request, resp: falcon.Response, **_):
        # falcon's bounded stream is empty without a Content-Length; a chunked body (the server decodes
        # it on wsgi.input) is read from the raw stream to its end instead.
        chunked = req.content_length is None and "chunked" in (req.get_header("Transfer-Encoding") or "").lower()
        stream = StallAwareStream(req.stream if chunked else req.bounded_stream)
        outcome = self.dispatcher.dispatch(
            req.method, req.path, req.query_string, req.headers, req.cookies, stream, req.content_length,
            req.remote_addr,
        )
        if refused(outcome.status):
            drain_refused(stream, req.content_length, self.dispatcher.state.refused_body_drain)
        write_outcome(resp, outcome)


def write_outcome(resp: falcon.Response, outcome: Outcome) -> None:
    resp.status = outcome.status
    resp.set_headers(envelope.EVERY_REPLY_HEADERS)
    for key, value in outcome.headers.items():
        resp.set_header(key, value)
    if outcome.stream is not None:
        result = outcome.stream
        resp.content_type = result.content_type
        for key, value in result.headers.items():
            resp.set_header(key, value)
        if result.content_length is not None:
            resp.content_length = result.content_length
        resp.stream = ClosingStream(result.chunks, result.close)
        return
    resp.content_type = "application/json"
    resp.data = outcome.body
    if outcome.cookie_token:
        resp.set_cookie(
            TOKEN_COOKIE, outcome.cookie_token, http_only=True, secure=False, same_site="Lax", path="/"
        )
    elif outcome.clear_cookie:
        resp.unset_cookie(TOKEN_COOKIE, path="/")


class ModelregApp(falcon.App):
    """falcon's App plus the state it serves (falcon.App itself has __slots__)."""

    def __init__(self, state: AppState):
        super().__init__(cors_enable=False)
        self.modelreg_state = state
        self.modelreg_reload_lock = threading.Lock()


def create_app(config=None, state: AppState | None = None) -> ModelregApp:
    config = config if config is not None else load_config()
    app = ModelregApp(state or build_state(config))
    app.req_options.strip_url_path_trailing_slash = False
    app.add_sink(webapp_route.wrap(ApiSink(Dispatcher(app.modelreg_state)), config), prefix="/")
    files_route.register(app, app.modelreg_state)
    docs_route.register(app, app.modelreg_state)
    registry_route.register(app)
    ops_route.register(app, app.modelreg_state, config)
    return app

