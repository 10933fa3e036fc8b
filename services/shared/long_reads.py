"""Long reads (a stream of records: NDJSON, exports) share the database fairly between companies.

A company holds at most `streams.max_per_company` long reads at once and the whole service at most
`streams.max_total`, counted across every worker and host through leases in MongoDB
(database/collections/stream_leases.py). One more is answered 503 with Retry-After at once, naming the cap, instead
of slowing every other company's calls. Each process renews the leases it holds from one thread every
third of `streams.lease_sec`; a process that dies stops renewing, and its slots come back by
themselves once its leases expire.
"""

from __future__ import annotations

import logging
import os
import threading

from database import ids
from database.collections import stream_leases
from services import errors

log = logging.getLogger("modelreg.long_reads")


class LongReads:
    def __init__(self, db, max_per_company: int = 0, max_total: int = 0, lease_sec: float = 30.0,
                 retry_after: int = 5):
        self.db = db
        self.max_per_company = max_per_company
        self.max_total = max_total
        self.lease_sec = lease_sec
        self.retry_after = retry_after
        self._held: dict[str, list[str]] = {}  # holder -> its slot ids, what this process renews
        self._lock = threading.Lock()
        self._renewer: threading.Thread | None = None
        self._renewer_pid = 0

    @classmethod
    def from_config(cls, db, config) -> LongReads:
        if config is None:
            return cls(db)
        return cls(db, int(config.get("streams.max_per_company", 0)), int(config.get("streams.max_total", 0)),
                   float(config.get("streams.lease_sec", 30)), int(config.get("server.retry_after_sec", 5)))

    @property
    def enabled(self) -> bool:
        return self.max_per_company > 0 or self.max_total > 0

    def acquire(self, company: str):
        """Takes a slot under each cap for one long read of `company`; returns the function that gives
        them back (idempotent). Raises ServiceBusy naming the cap that is full."""
        if not self.enabled:
            return _nothing
        holder = ids.new_id()
        slots: list[str] = []
        caps = [(f"company:{company}", self.max_per_company,
                 f"this company already runs {self.max_per_company} long reads (streams, exports) at once"
                 " (streams.max_per_company)"),
                ("total", self.max_total,
                 f"the server already runs {self.max_total} long reads (streams, exports) at once"
                 " (streams.max_total)")]
        try:
            for cap, size, full in caps:
                if size <= 0:
                    continue
                slot = stream_leases.take(self.db, cap, size, holder, self.lease_sec)
                if slot is None:
                    busy = errors.ServiceBusy(full, limit=size)
                    busy.retry_after = self.retry_after
                    raise busy
                slots.append(slot)
        except BaseException:
            stream_leases.release(self.db, slots, holder)
            raise
        with self._lock:
            self._held[holder] = slots
        self._keep_renewing()
        released = threading.Event()

        def release() -> None:
            if released.is_set():
                return
            released.set()
            with self._lock:
                self._held.pop(holder, None)
            stream_leases.release(self.db, slots, holder)

        return release

    def _keep_renewing(self) -> None:
        with self._lock:
            # a thread does not survive fork: a worker forked after the first long read starts its own
            if self._renewer is not None and self._renewer.is_alive() and self._renewer_pid == os.getpid():
                return
            self._renewer_pid = os.getpid()
            self._renewer = threading.Thread(target=self._renew_loop, name="long-read-leases", daemon=True)
            self._renewer.start()

    def _renew_loop(self) -> None:
        stop = threading.Event()
        while not stop.wait(self.lease_sec / 3):
            with self._lock:
                held = dict(self._held)
            for holder, slots in held.items():
                try:
                    stream_leases.renew(self.db, slots, holder, self.lease_sec)
                except Exception as exc:  # the next round tries again; the lease outlives a missed renewal
                    log.warning("renewing long-read leases failed: %s", exc)


def _nothing() -> None:
    return None
