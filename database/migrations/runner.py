"""Runs the migration steps at start, one runner at a time across every host.

A runner takes an expiring lease (a document of the `meta` collection) and keeps renewing it while it
works; the others wait until the data version reaches the newest step, or take the lease over once it
expired (its holder died). The version is stamped after each step, so an interrupted upgrade resumes
where it stopped. Data newer than this release knows is refused: an older release must not serve it.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta

from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from database import clock, connection

META = "meta"
VERSION_ID = "data_version"
LEASE_ID = "migration_lease"
STEP_NAME = re.compile(r"^m(\d{4})_\w+$")
POLL_SEC = 0.25
# How long a step may wait for one reply: a step reads whole collections, and the embedded server answers
# a find only once it has gathered every match (32 s for a million records, past the API's 30 s).
REPLY_TIMEOUT_MS = 3_600_000

Step = tuple[int, str, Callable[[Database], None]]


class MigrationError(RuntimeError):
    pass


def steps() -> list[Step]:
    """Every `m<NNNN>_*.py` of this package, in order."""
    import database.migrations as package

    found = []
    for module in pkgutil.iter_modules(package.__path__):
        match = STEP_NAME.match(module.name)
        if match:
            loaded = importlib.import_module(f"{package.__name__}.{module.name}")
            found.append((int(match[1]), module.name, loaded.migrate))
    found.sort()
    numbers = [number for number, _, _ in found]
    if numbers != list(range(1, len(numbers) + 1)):
        raise MigrationError(f"migration steps must be numbered 1, 2, 3, ... without gaps: {numbers}")
    return found


def latest_version(migrations: list[Step] | None = None) -> int:
    migrations = steps() if migrations is None else migrations
    return migrations[-1][0] if migrations else 0


def current_version(db: Database) -> int:
    doc = db[META].find_one({"_id": VERSION_ID})
    return int(doc["version"]) if doc else 0


def upgrade(db: Database, uri: str, timeout_ms: int, journal: bool, lease_sec: float,
            migrations: list[Step] | None = None) -> int:
    """`run` for the data `db` (the caller's handle on `uri`) holds: when it is current (every start but
    an upgrade's), on `db` itself; else on a connection of its own, whose replies are waited for up to
    REPLY_TIMEOUT_MS."""
    migrations = steps() if migrations is None else migrations
    if current_version(db) >= latest_version(migrations):
        return run(db, migrations, lease_sec)  # nothing to do, or data too new: refused there
    long_db = connection.connect(uri, db.name, timeout_ms, journal=journal, reply_timeout_ms=REPLY_TIMEOUT_MS)
    try:
        return run(long_db, migrations, lease_sec)
    finally:
        long_db.client.close()


def run(db: Database, migrations: list[Step] | None = None, lease_sec: float = 60,
        wait_sec: float | None = None, holder: str | None = None) -> int:
    """Brings the data to the newest version (waiting while another runner does) and returns it.
    `wait_sec` bounds the wait (None: as long as runners keep their lease)."""
    migrations = steps() if migrations is None else migrations
    target = latest_version(migrations)
    holder = holder or uuid.uuid4().hex
    started = time.monotonic()
    while True:
        version = current_version(db)
        if version > target:
            raise MigrationError(f"the stored data is at version {version}, newer than this release's {target}: "
                                 "serve it with a release at least as new")
        if version == target:
            return version
        if _take(db, holder, lease_sec):
            try:
                return _run_steps(db, migrations, holder, lease_sec)
            finally:
                db[META].delete_one({"_id": LEASE_ID, "holder": holder})
        if wait_sec is not None and time.monotonic() - started > wait_sec:
            raise MigrationError(f"another host has been upgrading the data for over {wait_sec:g} s")
        time.sleep(POLL_SEC)


def _take(db: Database, holder: str, lease_sec: float) -> bool:
    """Takes (or renews) the lease: free, expired or already ours. False while another holds it."""
    now = clock.now()
    try:
        db[META].find_one_and_update(
            {"_id": LEASE_ID, "$or": [{"expires": {"$lt": now}}, {"holder": holder}]},
            {"$set": {"holder": holder, "expires": now + timedelta(seconds=lease_sec)}},
            upsert=True,
        )
    except DuplicateKeyError:  # it exists and is another's: the upsert tried to insert a second one
        return False
    return True


def _run_steps(db: Database, migrations: list[Step], holder: str, lease_sec: float) -> int:
    version = current_version(db)  # read again under the lease: another runner may just have finished
    renewing = _Renewal(db, holder, lease_sec)
    try:
        for number, name, migrate in migrations:
            if number <= version:
                continue
            if renewing.lost:
                raise MigrationError("the migration lease was lost (another host took it over); stopping")
            migrate(db)
            db[META].update_one({"_id": VERSION_ID},
                                {"$set": {"version": number, "step": name, "updated": clock.now()}}, upsert=True)
            version = number
    finally:
        renewing.stop()
    return version


class _Renewal:
    """Renews the lease every third of its length while steps run, so a long step keeps it."""

    def __init__(self, db: Database, holder: str, lease_sec: float):
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, args=(db, holder, lease_sec), daemon=True,
                                        name="migration-lease")
        self._thread.start()

    def _loop(self, db, holder, lease_sec) -> None:
        while not self._stop.wait(lease_sec / 3):
            if not _take(db, holder, lease_sec):
                self.lost = True
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
