"""The MongoDB client and database handle, the deadline that bounds one call's database work, which
kind of server answers (MongoDB or the embedded secantusd-py, whose planner needs help: database/query/shape.py),
and durable acknowledgements at one journal flush per call.

With mongo.journal on, an API call must not answer before its writes are in the database's journal on
disk. Sending each of a call's writes with `j: true` costs one journal flush (an fsync, 10-30 ms on a
busy disk) per write, and a create makes several. Both MongoDB and the embedded server keep one journal,
written in order: flushing it up to a write makes every write before it durable too. So the writes of a
call go unjournaled (`grouped`) and the call ends with one journaled write (`flush`) when, and only when,
it wrote: the same guarantee for one flush, which concurrent calls share (group commit).

Whether a call wrote is seen by a command listener (pymongo's public monitoring API) on the client,
marking the call's context; the dispatcher opens that context around each handler (`one_flush`).
Writes to collections declared with `needs_no_flush` (leases that expire anyway) do not count: a read
that only takes and gives back a slot ends without a flush.
Writes outside any call (start-up, the first admin) use the journaled database as it is.
"""

from __future__ import annotations

import contextlib
import os
import threading
import weakref
from collections.abc import Mapping
from contextlib import AbstractContextManager
from contextvars import ContextVar

import pymongo
from pymongo import MongoClient, WriteConcern, monitoring
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import AutoReconnect, PyMongoError

from database import timing


def connect(uri: str, database: str, timeout_ms: int = 5000, operation_timeout_ms: int | None = None,
            journal: bool = True, reply_timeout_ms: int | None = None) -> Database:
    """`timeout_ms` bounds waiting for an unreachable server; `operation_timeout_ms` (pymongo's
    timeoutMS) bounds every single operation, the server being told as maxTimeMS, so a stalled server
    never holds a caller longer than that even outside a `deadline` block. Without it, a reply is waited
    for `reply_timeout_ms` (default: six times `timeout_ms`, at least 30 s).

    `journal` sends every write with writeConcern `j: true`: the server answers only once the write is
    in its journal on disk, so an acknowledged write survives a crash of the database process. MongoDB
    and the embedded server both honour it per write (the embedded server, started without
    --sync-on-commit, otherwise leaves its log to the OS and lost about 1 in 60 acknowledged inserts to
    a SIGKILL: tests/server/test_durable_writes.py). An API call's writes share one journal flush
    (`one_flush`), whose listener this client carries."""
    options = {"timeoutMS": operation_timeout_ms} if operation_timeout_ms else {
        "socketTimeoutMS": reply_timeout_ms or max(timeout_ms * 6, 30000)}
    listener = CallListener(journal)
    settings = dict(
        tz_aware=True,
        serverSelectionTimeoutMS=timeout_ms,
        connectTimeoutMS=timeout_ms,
        uuidRepresentation="standard",
        appname="modelreg",
        journal=journal,
        # per-call database time (database/timing.py), whether a call wrote (its one journal flush) and
        # which server process its first writes went to
        event_listeners=[listener],
        **options,
    )
    client = MongoClient(uri, **settings)
    if "retrywrites" not in uri.lower() and _answers_as_embedded(client[database]):
        # The embedded server keeps the reply of every retryable write in memory and, on each write, scans
        # all it keeps (up to 10,000; once full it sorts them all, every write): about a third of its CPU
        # under steady writes (docs/performance.md). A retry buys nothing there: one process on this host,
        # no other member to fail over to, and the replies it kept die with it. MongoDB keeps retries.
        client.close()
        client = MongoClient(uri, retryWrites=False, **settings)
        _EMBEDDED[client] = True
    listener.client = weakref.ref(client)
    return client[database]


def _answers_as_embedded(db: Database) -> bool:
    """`is_embedded(db)`, False when no server answers yet (the client then stays as configured: only a
    cost, never a different result)."""
    try:
        return is_embedded(db)
    except PyMongoError:
        return False


class Collections:
    """`db[name]`, each made once: pymongo builds a new Collection object on every `db[name]`, 3% of a
    worker's interpreter time per get_by_id under load (py-spy, docs/performance.md). Collection
    objects are immutable and thread-safe; one of these lives as long as the app's database handle."""

    def __init__(self, db: Database):
        self.db = db
        self._made: dict[str, Collection] = {}

    def __getitem__(self, name: str) -> Collection:
        made = self._made.get(name)
        if made is None:
            made = self._made[name] = self.db[name]
        return made


# {client: whether it talks to the embedded server}: a fact of the server, asked once per client and process
_EMBEDDED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def is_embedded(db: Database) -> bool:
    """Whether `db` is served by the embedded server (secantusd-py), asked with buildInfo on first use."""
    client = db.client
    known = _EMBEDDED.get(client)
    if known is None:
        known = _EMBEDDED[client] = embedded_build(client.admin.command("buildInfo"))
    return known


def embedded_build(build_info: Mapping) -> bool:
    """Whether a buildInfo reply is the embedded server's: secantusd-py adds its own version to it."""
    return "secantusVersion" in build_info


def deadline(seconds: float | None) -> AbstractContextManager:
    """Every database operation inside the block must finish within `seconds` of entering it (sent to
    the server as maxTimeMS, enforced on the client too); running out raises a driver error that
    database.errors.database_unavailable recognises. None: no deadline beyond the per-operation one."""
    return pymongo.timeout(seconds)


def ping(db: Database, seconds: float) -> None:
    """Raises unless the database answers a ping within `seconds` (the readiness probe)."""
    with pymongo.timeout(seconds):
        db.command("ping")


def answers(uri: str, timeout_ms: int = 500) -> bool:
    """Whether a MongoDB server at `uri` answers a ping (used to wait for the embedded server)."""
    with MongoClient(uri, serverSelectionTimeoutMS=timeout_ms, connectTimeoutMS=timeout_ms) as client:
        client.admin.command("ping")
    return True


# --- durable acknowledgements ---------------------------------------------------------------------

FLUSHES = "journal_flushes"  # one small document per slot, rewritten by each flush
SLOTS = 4096  # flushes of concurrent threads rarely touch the same document
WRITES = frozenset({"insert", "update", "delete", "findAndModify"})
_UNJOURNALED = WriteConcern(w=1, j=False)
_JOURNALED = WriteConcern(w=1, j=True)

# collections whose writes may be lost in a crash without harm (declared by their modules)
_NO_FLUSH: set[str] = set()


def needs_no_flush(collection: str) -> None:
    """Declares that a call's writes to `collection` alone need no journal flush: what it holds expires
    by itself (leases), so a crash that loses a write there loses nothing a client was promised."""
    _NO_FLUSH.add(collection)


# the current call's writes: None outside a call, else [unflushed, followed_from, unjournaled_from]:
# unflushed is True while a write is not yet known to be on disk (an unjournaled one came after the last
# journaled one); followed_from the server process (`server_process`) the first write not yet followed by
# its change-log entries went to, unjournaled_from the one the call's first unjournaled write went to
# (None: no such write)
_wrote: ContextVar[list | None] = ContextVar("modelreg_call_wrote", default=None)


# --- which server process a write went to ---------------------------------------------------------
#
# A restarted server may have lost the writes it acknowledged but had not journaled, and a write sent
# after the restart lands there all the same: a change-log entry then names a change that is gone, or a
# journal flush acknowledges writes that are. So a call refuses to send an entry, or its flush, once the
# server process differs from the one its earlier writes went to (`entries_may_follow`, `one_flush`); the
# call fails as the database being unavailable, and its client retries.
#
# The process is told by the `topologyVersion.processId` every server since MongoDB 4.4 (and the embedded
# one) reports in its hello replies, which the client's monitor keeps in its topology description: a
# restart or a new primary changes it. Read from the description when needed, it is current as soon as the
# client has chosen a server again after losing it (an SDAM listener's events arrive later, from a thread
# that runs once a second, and make closing a client wait for it). A restart that no connection and no
# heartbeat has noticed yet stays unseen until one does (every 10 s at most).

_UNKNOWN = object()  # the address is not a writable server the client knows: equal to nothing, so it fails safe


def _process_of(description) -> object | None:
    """The process of a server description (None: a server that reports none, nothing to compare;
    _UNKNOWN: not a writable server the client knows)."""
    if description is None or not description.is_writable:
        return _UNKNOWN
    version = description.topology_version
    return version.get("processId") if version else None


def _process_at(client: MongoClient, address) -> object | None:
    """The process of the writable server at `address` as the client knows it now."""
    return _process_of(client.topology_description.server_descriptions().get(address))


def server_process(db: Database) -> tuple:
    """(address, process) of a server the client of `db` writes to now, waiting for one as any write would
    (a ping, bounded like any command) while it knows none."""
    for _ in range(2):
        for address, description in db.client.topology_description.server_descriptions().items():
            if description.is_writable:
                return address, _process_of(description)
        db.client.admin.command("ping")
    return None, _UNKNOWN


def went_away_since(db: Database, noted: tuple | None) -> bool:
    """Whether the server a write went to, `noted` as (address, process), no longer runs that process (or
    is no longer a writable server: a failover). Compared per address, so a client of several routers
    (mongos) compares each with itself. None, or a server that reports no process: nothing to compare."""
    if noted is None or noted[1] is None:
        return False
    address, process = noted
    now = _process_at(db.client, address)
    if now is _UNKNOWN:  # the client lost its servers: wait until it knows them again, as a write would
        db.client.admin.command("ping")
        now = _process_at(db.client, address)
    return now != process


def entries_may_follow(db: Database) -> None:
    """Called right before a call sends the change-log entries of its latest writes: raises AutoReconnect
    when the server went away since the first of those writes was sent (the entries could reach a
    restarted server that lost them); else counts them as followed."""
    state = _wrote.get()
    if state is None:
        return
    since, state[1] = state[1], None
    if went_away_since(db, since):
        raise AutoReconnect("the database went away between a change and its change-log entry")


class CallListener(monitoring.CommandListener):
    """What the running call's commands did, in one listener: pymongo builds an event object for every
    command once any listener is registered, and each listener more costs another call per event.

    Times every command for the call's database time (database/timing.py), and, with `journal`, marks
    whether the call has a write not yet on disk. Runs in the thread that sends the command. A journaled
    write (the change log's entries are written so) puts every earlier write on disk too, so a call whose
    last write was journaled needs no flush of its own."""

    def __init__(self, journal: bool):
        self.journal = journal
        self.client = None  # a weak reference to the client, set once it is made

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.journal and event.command_name in WRITES:
            state = _wrote.get()
            if state is not None and event.command.get(event.command_name) not in _NO_FLUSH:
                unjournaled = not (event.command.get("writeConcern") or {}).get("j")
                state[0] = unjournaled
                if state[1] is None or (unjournaled and state[2] is None):
                    process = self._process(event.connection_id)
                    if state[1] is None:
                        state[1] = process
                    if unjournaled and state[2] is None:
                        state[2] = process

    def _process(self, address) -> tuple | None:
        """(address, process) of the server this command is being sent to."""
        client = self.client() if self.client is not None else None
        return None if client is None else (address, _process_at(client, address))

    def succeeded(self, event) -> None:
        timing.add_database_time(event.duration_micros)

    def failed(self, event) -> None:
        timing.add_database_time(event.duration_micros)


def grouped(db: Database) -> Database:
    """`db` whose writes are not each journaled: for use inside `one_flush` only (made once per app; not
    cached by client, since pymongo compares clients by address and a closed one would be handed out)."""
    return db.client.get_database(db.name, codec_options=db.codec_options, write_concern=_UNJOURNALED)


def flush(db: Database) -> None:
    """One journaled write: when it is acknowledged, every write acknowledged before it is on disk."""
    slot = hash((os.getpid(), threading.get_ident())) % SLOTS
    db.get_collection(FLUSHES, write_concern=_JOURNALED).update_one({"_id": slot}, {"$inc": {"n": 1}}, upsert=True)


def one_flush(db: Database, enabled: bool = True) -> AbstractContextManager:
    """The block's writes (through `grouped(db)`) made durable by one journal flush at its end, if it wrote.
    A block that fails still flushes what it wrote (its error may tell the client what was stored), but a
    failing flush then does not hide the block's own error."""
    return _OneFlush(db) if enabled else contextlib.nullcontext()


class _OneFlush:
    """`one_flush`'s block; a class, as every call enters one (a generator-based one costs a few times more)."""

    __slots__ = ("db", "token")

    def __init__(self, db: Database):
        self.db = db

    def __enter__(self) -> None:
        self.token = _wrote.set([False, None, None])

    def __exit__(self, kind, error, trace) -> None:
        unflushed, _, unjournaled_from = _wrote.get()
        _wrote.reset(self.token)
        if kind is None and went_away_since(self.db, unjournaled_from):
            # the server went away since the call's first unjournaled write: a restarted one may have lost
            # it, and a journaled write since (or the flush now) could not vouch for it
            raise AutoReconnect("the database went away while the call wrote")
        if not unflushed:
            return
        if kind is None:
            flush(self.db)
            return
        with contextlib.suppress(Exception):
            flush(self.db)
