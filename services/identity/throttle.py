"""Limits guessing at secrets without letting a guesser lock anyone else out.

Two kinds of counters, in MongoDB (database/collections/throttle_db.py) so that every worker and host counts the
same failures:
- per (access key, client address) pair: at `max_failures_per_key` wrong secrets in the window that
  key is refused from that address only, a correct secret included (it would confirm a guess), until
  the window ends. Its owner signing in from any other address is not affected.
- per client address, over every key: past `max_failures_per_address` failures each further failure
  blocks the address for a short backoff (`backoff_first_ms`, doubling with each further failure, at
  most `backoff_max_ms`); sign-ins from it are then answered 429 with a small Retry-After. A shared
  address (a NAT, a proxy) is slowed for seconds, never locked out for minutes.
Nothing here sleeps: a refused or slowed client is told when to retry and holds no worker meanwhile.
Lockout is not what protects a key pair: generated secrets carry 256 bits or more (see docs/security.md).
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

from database import clock
from database.collections import throttle_db, users_db
from services import errors
from services.shared import metrics

MAX_KEY_IN_ID = 64
MAX_DOUBLINGS = 30  # beyond this every backoff is at its cap anyway


class TooManyFailures(errors.ApiError):
    code = 429
    subcode = 0
    default_msg = "Too many failed sign-ins"

    @property
    def retry_after(self) -> int:  # sent as Retry-After by the dispatcher, as for every error that has it
        return int(self.kwargs.get("retry_after_sec", 1))


DEFAULTS = {"window_sec": 300, "max_failures_per_key": 10, "max_failures_per_address": 100,
            "backoff_first_ms": 500, "backoff_max_ms": 5000}


def _settings(config) -> dict:
    tree = config.get("auth.throttle", None) if config is not None else None
    if tree is None:
        return dict(DEFAULTS)
    return {k: int(tree.get(k, v)) for k, v in DEFAULTS.items()}


def _shown_key(access_key: str) -> str:
    return access_key if len(access_key) <= MAX_KEY_IN_ID else hashlib.sha256(access_key.encode()).hexdigest()


def pair_id(access_key: str, address: str | None) -> str:
    """The counter of one key from one address; the address's length comes first, so no key and
    address can be spelt as another pair."""
    address = address or ""
    return f"pair:{len(address)}:{address}:{_shown_key(access_key)}"


def address_id(address: str) -> str:
    return f"addr:{address}"


def backoff_ms(settings: dict, over: int) -> int:
    """The block after the failure `over` failures past the address limit (0 for the first)."""
    return min(settings["backoff_first_ms"] << min(max(over, 0), MAX_DOUBLINGS), settings["backoff_max_ms"])


def check(db, config, access_key: str, address: str | None) -> None:
    """Raises TooManyFailures while this key is locked from this address, or the address is in its
    backoff (one indexed read)."""
    settings = _settings(config)
    ids = [pair_id(access_key, address)] + ([address_id(address)] if address else [])
    now = clock.now()
    ends = []
    for doc in throttle_db.active(db, ids):
        if doc["_id"].startswith("pair:") and doc.get("count", 0) >= settings["max_failures_per_key"]:
            ends.append(clock.as_utc(doc["reset"]))
        blocked = doc.get("blocked_until")
        if blocked is not None and clock.as_utc(blocked) > now:
            ends.append(clock.as_utc(blocked))
    if ends:  # Retry-After names the later of the two, when both hold
        _refuse(max(ends), now)


def failed(db, config, access_key: str, address: str | None) -> bool:
    """Counts a wrong secret (answering 429 when the pair was already at its limit). True when this
    failure locked an existing key from this address."""
    settings = _settings(config)
    limit = settings["max_failures_per_key"]
    pair = throttle_db.record_failure(db, pair_id(access_key, address), settings["window_sec"],
                                      {"key": _shown_key(access_key), "address": address or ""})
    locked = pair.get("count", 0) == limit and users_db.get_credential(db, access_key) is not None
    if locked:
        # From now on check() refuses this pair, a correct secret included: processes that remember
        # it verified must forget it too (services/identity/lease.py). An unknown key has nothing
        # remembered, so guessing keys cannot make every worker drop what it verified.
        users_db.bump_auth_epoch(db)
    if address:
        counter = throttle_db.record_failure(db, address_id(address), settings["window_sec"])
        over = counter.get("count", 0) - settings["max_failures_per_address"]
        if over >= 0:
            until = clock.now() + timedelta(milliseconds=backoff_ms(settings, over))
            throttle_db.block_until(db, address_id(address), until)
    if pair.get("count", 0) > limit:  # raced past check() while the pair was being locked
        _refuse(clock.as_utc(pair["reset"]), clock.now())
    return locked


def _refuse(until: datetime, now: datetime) -> None:
    wait = max(1, math.ceil((until - now).total_seconds()))
    metrics.THROTTLED_SIGN_INS.inc()
    raise TooManyFailures("wait before signing in again", retry_after_sec=wait)
