"""Spreads one host's client connections evenly over its gunicorn workers.

Every gthread worker waits for new connections on the same listening socket and the kernel wakes them
all; whichever runs first takes the connection. With a handful of long-lived keep-alive connections (a
proxy's upstream pool, a few SDK clients, a benchmark's 8) one worker often ends up with most of them,
and their requests queue for its one interpreter while the other worker idles: with 7 of 8 connections
on one worker the p99 of `get_by_id` was 20-28 ms, with 4 and 4 it was 14-16 ms (bench/overhead.py's
load, README "Performance").

So each worker publishes how many connections it holds in a small table in memory shared by the workers
of one gunicorn (an anonymous shared mapping made by the arbiter before it forks them), and stops
listening while another live worker holds fewer. The worker holding the fewest never steps aside, and
one that did looks again every STEP_ASIDE_RECHECK_SEC, so a new connection waits at most that long.
The table holds connection counts only, no application state; a worker that dies stops beating and is
left out at once, one that hangs after STALE_SEC.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import time
from multiprocessing import Lock

SLOTS = 64  # workers of one gunicorn taking part; any beyond (after TTIN) simply always listen
STALE_SEC = 3.0  # gthread's main loop turns at least once a second; a worker silent this long is gone
STEP_ASIDE_RECHECK_SEC = 0.01
_PID, _CONNECTIONS, _BEAT_MS = range(3)
_FIELDS = 3


def _now_ms() -> int:
    return int(time.monotonic() * 1000)  # CLOCK_MONOTONIC: the same clock in every process of the host


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process now holds that pid: the slot stays taken, harmlessly
    return True


class AcceptBalance:
    """The shared table (made before the fork) and this worker's slot in it (claimed after)."""

    def __init__(self, slots: int = SLOTS):
        # Anonymous mappings are MAP_SHARED, so the forked workers share it. Word 0: the slots ever used.
        size = 1 + slots * _FIELDS
        self._memory = mmap.mmap(-1, size * 8)
        self._table = (ctypes.c_int64 * size).from_buffer(self._memory)
        self._end = size
        self._claim_lock = Lock()
        self._mine: int | None = None
        self._published = -1

    def claim(self) -> bool:
        """Takes a free slot (never used, or its process gone) for this process; False when none is.
        It counts for the others only from its first beat: a worker still loading the app takes nothing."""
        table, pid = self._table, os.getpid()
        with self._claim_lock:
            for base in range(1, self._end, _FIELDS):
                holder = table[base + _PID]
                if holder in (0, pid) or not _running(holder):
                    table[base + _PID], table[base + _CONNECTIONS], table[base + _BEAT_MS] = pid, 0, 0
                    table[0] = max(table[0], base + _FIELDS)
                    self._mine, self._published = base, 0
                    return True
        return False

    def release(self) -> None:
        """Leaves the table (a stopping worker no longer listens)."""
        if self._mine is not None:
            self._table[self._mine + _PID] = 0
            self._mine = None

    def publish(self, connections: int) -> None:
        """This worker's connection count, with a heartbeat."""
        mine = self._mine
        if mine is None:
            return
        if connections != self._published:
            self._table[mine + _CONNECTIONS] = self._published = connections
        self._table[mine + _BEAT_MS] = _now_ms()

    def another_takes_it(self, connections: int) -> bool:
        """True when another live worker holds fewer connections than this one's `connections`."""
        mine = self._mine
        if mine is None or connections == 0:
            return False
        table, fresh_after = self._table, _now_ms() - STALE_SEC * 1000
        for base in range(1, table[0], _FIELDS):
            if (base != mine and table[base + _PID] and table[base + _CONNECTIONS] < connections
                    and table[base + _BEAT_MS] > fresh_after and _running(table[base + _PID])):
                return True  # (the pid is checked last, and only then: a killed worker beats no more)
        return False
