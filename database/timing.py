"""Time one call waits on the database and on the object store, measured in one place each: the client's
command listener (every command any module sends, database/connection.py) and the object store's HTTP
pool (every S3 request).

The running total belongs to the call, not the process: it lives in a context variable that the HTTP
edge opens around each call (`begin`/`end`), so threads serving other calls never mix their times and
nothing outside a call is counted. Outside a call the hooks do nothing.
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token
from dataclasses import dataclass


@dataclass
class CallTimes:
    database_sec: float = 0.0
    database_ops: int = 0
    store_sec: float = 0.0
    store_requests: int = 0


_CURRENT: ContextVar[CallTimes | None] = ContextVar("modelreg_call_times", default=None)


def begin() -> tuple[CallTimes, Token]:
    times = CallTimes()
    return times, _CURRENT.set(times)


def end(token: Token) -> None:
    _CURRENT.reset(token)


def add_database_time(micros: int) -> None:
    """One command's round trip, reported by the client's command listener (database/connection.py) in
    the thread that sent it, so it lands on that call."""
    times = _CURRENT.get()
    if times is not None:
        times.database_sec += micros / 1e6
        times.database_ops += 1


def add_store_time(seconds: float) -> None:
    times = _CURRENT.get()
    if times is not None:
        times.store_sec += seconds
        times.store_requests += 1


def timed_store_request(urlopen):
    """Wraps a PoolManager's urlopen: until the answer's headers (a streamed body is read later, at the
    client's pace, and is not the store's time)."""

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return urlopen(*args, **kwargs)
        finally:
            add_store_time(time.perf_counter() - started)

    return timed
