"""Verified key pairs, remembered by each process under a short lease on the shared auth epoch.

Checking a key pair on every call costs a database round trip (two for Basic, with the sign-in
throttle); a `get_by_id` costs one more. So each process remembers what it verified, and trusts it
only while BOTH hold:
- the lease: the process read the shared auth epoch (users_db.auth_epoch) less than `lease_sec` ago,
  timed from the moment the read was sent; an ended lease is renewed by the next call, one read;
- the entry was verified under the epoch the process holds now.

Every change that narrows a key pair (revoked, user deleted, role changed, a sign-in lockout begun)
increments the epoch in MongoDB, and the call that made it answers only after waiting one lease
(`changed`). By then every process on every host has either read the new epoch (and forgotten all it
remembered) or let its lease end (and checks the database again). So when the revoking call returns,
the key pair and every token minted from it are refused everywhere, as without the cache; what the
cache costs is that call's wait. `auth.credential_lease_ms: 0` turns it off.

A change made directly in MongoDB (a key pair deleted, a role changed) moves no epoch. So an entry is
also trusted for at most `recheck_sec` after the lookup that verified it, then looked up again: at
most one lookup per key pair per process per `recheck_sec`, and such a change is in force everywhere
within that long.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from database.collections import users_db

MAX_ENTRIES = 10_000  # key pairs remembered per process; more and it starts over


class CredentialLease:
    def __init__(self, lease_sec: float, recheck_sec: float = 5.0):
        self.lease_sec = max(0.0, lease_sec)
        self.recheck_sec = max(0.0, recheck_sec)
        self._entries: dict[Any, tuple[int, Any, float]] = {}  # key -> (epoch, value, looked up at)
        self._epoch = -1
        self._valid_until = 0.0
        self._lock = threading.Lock()

    def epoch(self, db) -> int | None:
        """The epoch a remembered entry must carry to be used now (renewing the lease when it ended),
        or None when nothing may be remembered."""
        if self.lease_sec <= 0:
            return None
        sent = time.monotonic()
        if sent < self._valid_until:
            return self._epoch
        epoch = users_db.auth_epoch(db)
        with self._lock:
            if epoch > self._epoch:
                self._entries.clear()
                self._epoch = epoch
            if epoch == self._epoch:  # a read sent before a newer one answered proves nothing newer
                self._valid_until = max(self._valid_until, sent + self.lease_sec)
            return self._epoch if epoch == self._epoch else None

    def recall(self, key: Any, epoch: int | None) -> Any:
        if epoch is None:
            return None
        entry = self._entries.get(key)
        if entry is None or entry[0] != epoch or time.monotonic() - entry[2] >= self.recheck_sec:
            return None
        return entry[1]

    def remember(self, key: Any, epoch: int | None, value: Any, looked_up_at: float) -> None:
        """Keeps what was verified AFTER `epoch` was obtained (so a change in between makes it unusable)
        by a lookup sent at `looked_up_at` (time.monotonic(); the recheck interval counts from there)."""
        if epoch is None or self.recheck_sec <= 0:
            return
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (epoch, value, looked_up_at)

    def forget(self) -> None:
        """Forgets everything here now; the next call reads the epoch again."""
        with self._lock:
            self._entries.clear()
            self._valid_until = 0.0

    def changed(self) -> None:
        """After a change that narrowed a key pair (its data function already incremented the epoch):
        forgets everything here and waits until every other process has too."""
        self.forget()
        if self.lease_sec > 0:
            time.sleep(self.lease_sec)
