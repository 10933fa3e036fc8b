"""What a handler receives (`Call`) and the few non-JSON results it may return."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, BinaryIO, NamedTuple

from database import connection
from database.collections import recording
from database.collections.directory_db import Directory
from database.collections.projects_db import PathLimits
from database.collections.scope import PageLimits, Scope, query_specs
from database.connection import Collections
from database.query.page_cache import PageCache
from database.query.time_windows import WINDOW_DOCUMENTS
from services.changes.kinds import kind_of
from services.changes.settings import ChangeSettings
from services.identity.lease import CredentialLease
from services.identity.roles import is_server_role
from services.shared.long_reads import LongReads

Version = tuple[int, int]
# modelreg's own endpoints and fields are declared from this version on, above every ClearML version,
# so what a ClearML endpoint version means never changes (docs/ARCHITECTURE.md, "Extensions").
EXTENSIONS_FROM: Version = (2, 99)

_VERSION = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)$")


def parse_version(text: str) -> Version:
    """'2.13' -> (2, 13): the one parser of API versions (paths, schema keys, settings). Raises
    ValueError for anything that is not major.minor without leading zeros."""
    match = _VERSION.match(str(text).strip())
    if not match:
        raise ValueError(f"not a major.minor version: {text!r}")
    return int(match[1]), int(match[2])


@lru_cache(maxsize=1024)  # a few versions, written several times by every call (envelope, log line)
def format_version(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


class BodyLine(NamedTuple):
    """One line of a JSON-lines body (an endpoint version with `line_request`), as the server checked it:
    `item` when it passed, else None and `problem` saying why. `number` counts from 1 and counts blank
    lines too, so it is the line a client finds in its file (the item's position in a JSON list body)."""

    number: int
    item: dict | None
    problem: str | None


@dataclass(frozen=True)
class Identity:
    user: str
    company: str
    role: str
    user_name: str = ""
    company_name: str = ""
    # How the caller signed in: the key pair behind the call (Basic) or behind the token (Bearer), and
    # for a token, when its session began (the Basic sign-in it descends from, epoch seconds).
    credential: str = ""
    bearer: bool = False
    auth_time: int = 0
    # The token came in the web session cookie, not in an Authorization header: the browser sends it by
    # itself, so changes signed by it alone are checked for another site's forgery (server/http/cross_site.py).
    session_cookie: bool = False
    # The token is the one auth.login gave the browser's cookie after a sign-in with the key pair (its
    # `browser` claim), not the one the reply's body carries, which scripts, logs and proxies may see.
    browser_token: bool = False


@dataclass
class Stores:
    """The app's long-lived resources, shared by every call."""

    db: Any  # a pymongo Database; handed to database/ objects (scope, directory), never read by handlers
    blobs: Any = None  # database.blobstore.BlobStore, when object storage is configured
    config: Any = None  # the merged configuration tree
    token_secret: str = ""
    query_specs: dict = field(default_factory=dict)  # resource name -> spec completed from the schema
    # endpoint name -> the newest version's request validator (jsonschema), for requests a handler keeps
    # to run later through another endpoint's code (organization.prepare_download_for_get_all)
    request_validators: dict = field(default_factory=dict)

    @cached_property
    def credential_lease(self) -> CredentialLease:
        if self.config is None:
            return CredentialLease(0)
        return CredentialLease(int(self.config.get("auth.credential_lease_ms", 0)) / 1000,
                               float(self.config.get("auth.credential_recheck_sec", 5)))

    @cached_property
    def page_limits(self) -> PageLimits:
        query = self.config.get("query") if self.config is not None else {}
        entries = int(query.get("page_cache_entries", 0))
        return PageLimits(int(query.get("max_page_size", 500)), int(query.get("scroll_ttl_sec", 600)),
                          PageCache(entries, float(query.get("page_cache_max_age_sec", 300))) if entries else None,
                          int(query.get("stream_window_records", WINDOW_DOCUMENTS)),
                          int(self.config.get("server.max_reply_bytes", 0)) if self.config is not None else 0)

    @cached_property
    def project_paths(self) -> PathLimits:
        if self.config is None:
            return PathLimits()
        return PathLimits(int(self.config.get("projects.max_depth", PathLimits.max_depth)),
                          int(self.config.get("projects.max_name_chars", PathLimits.max_name_chars)))

    @cached_property
    def long_reads(self) -> LongReads:
        return LongReads.from_config(self.db, self.config)

    @cached_property
    def journal(self) -> bool:
        return bool(self.config.get("mongo.journal", True)) if self.config is not None else False

    def acknowledged(self):
        """A context for one call's handler: its writes are on disk when the block ends (one journal
        flush when it wrote, database/connection.py); nothing without mongo.journal."""
        return connection.one_flush(self.db, self.journal)

    @cached_property
    def collections(self) -> Collections:
        return Collections(self.db)

    @cached_property
    def change_settings(self) -> ChangeSettings:
        return ChangeSettings.from_config(self.config)

    def scope_for(self, company: str, recorder: recording.Recorder | None = None) -> Scope:
        return Scope(self.db, company, self.page_limits, self.query_specs, self.collections, recorder,
                     self.project_paths)

    def directory_for(self, identity: Identity, recorder: recording.Recorder | None = None) -> Directory:
        """The users and key pairs `identity` may manage: its company's, every company's for a
        server-level role."""
        return Directory(self.db, identity.company, identity.user, identity.role, is_server_role(identity.role),
                         recorder)

    def recorder_for(self, identity: Identity | None, endpoint: str, version: str, trx: str
                     ) -> recording.Recorder | None:
        """The change recorder of one call (None: recording is off, or nobody signed in, so nothing
        can be written)."""
        settings = self.change_settings
        if identity is None or not settings.enabled:
            return None
        return recording.Recorder(self.db, identity.company, identity.user, endpoint, version, trx, kind_of,
                                  max_change_bytes=settings.max_change_bytes, summarise_over=settings.summarise_over)

    def recording(self, identity: Identity | None, endpoint: str, version: str, trx: str):
        """Binds a call's recorder for the writes that reach shared objects (the object store); a
        context manager."""
        return recording.bound(self.recorder_for(identity, endpoint, version, trx))

    def install_schemas(self, request_schemas: dict[str, list[dict]]) -> None:
        """Completes every resource's query spec from the schema files' get_all request schemas
        ({endpoint name: [request schema of each version]}); called at start and on each reload."""
        self.query_specs = query_specs(request_schemas)


@dataclass
class Call:
    endpoint: str
    requested_version: Version
    actual_version: Version
    data: dict
    identity: Identity | None
    stores: Stores
    trx: str = ""
    batch: list[dict] | None = None  # JSON-lines items, for endpoints that declare a batch_request
    body: BinaryIO | None = None  # the raw request stream (raw_body); its checked BodyLines with line_request
    body_length: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    response_format: str = "json"  # "ndjson" when the endpoint declares it and the client's Accept asks for it
    cookie_token: str | None = None  # set by auth.login: the web session cookie's token, sent as Set-Cookie

    @cached_property
    def recorder(self) -> recording.Recorder | None:
        """What logs this call's changes in the change log (services/changes)."""
        return self.stores.recorder_for(self.identity, self.endpoint, format_version(self.actual_version), self.trx)

    def recording(self):
        """Binds this call's recorder while its handler runs (object-store writes report to it)."""
        return recording.bound(self.recorder)

    @cached_property
    def scope(self) -> Scope:
        """The caller's company's view of every resource: the only way handlers reach documents."""
        return self.stores.scope_for(self.company, self.recorder)

    @cached_property
    def directory(self) -> Directory:
        """User and key-pair management (auth.*): the only way handlers reach users across companies."""
        return self.stores.directory_for(self.identity, self.recorder)

    @property
    def blobs(self):
        return self.stores.blobs

    @property
    def config(self):
        return self.stores.config

    @property
    def company(self) -> str:
        return self.identity.company if self.identity else ""

    def version_at_least(self, version: str) -> bool:
        return self.requested_version >= parse_version(version)

    @property
    def page_cut(self) -> dict | None:
        """How a listing of this call was cut at server.max_reply_bytes, or None (never cut, or no
        listing read)."""
        scope = self.__dict__.get("scope")  # looked up without making one for a call that made none
        return scope.cut_pages[0] if scope is not None and scope.cut_pages else None


@dataclass
class StreamResult:
    """A handler result sent as raw bytes instead of a JSON envelope (file downloads)."""

    chunks: Iterable[bytes]
    content_length: int | None
    content_type: str = "application/octet-stream"
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 200
    close: Any = None  # called once the response has been sent


@dataclass
class DocumentStream:
    """A handler result sent as one JSON object a line (NDJSON, for a call whose response_format is
    "ndjson"): the handler says which documents, the server frames them and sends the envelope's meta
    as headers (server/http/ndjson.py). `documents` is read ahead of the writer: `open() -> bool` (False:
    nothing matches), `batches()` (lists of API-shaped dicts), `close()`
    (database/query/prefetch.py's Prefetch)."""

    documents: Any
    close: Any = None  # called once the response has been sent; the documents' own close unless given

    def __post_init__(self) -> None:
        if self.close is None:
            self.close = self.documents.close
