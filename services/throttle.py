"""Slows and then stops repeated wrong secrets, per access key and per client address.

The counters live in MongoDB (database/throttle_db.py), so every worker and every host behind a load
balancer counts the same failures. After `slow_after` failures in a window each further wrong secret
is answered late (bounded), and at the limit every sign-in for that key or address is answered 429
with `Retry-After` until the window ends, a correct secret included (it would confirm a guess).
"""

from __future__ import annotations

import hashlib
import math
import time
from datetime import datetime, timezone

from database import throttle_db, users_db
from services import errors

MAX_KEY_IN_ID = 64


class TooManyFailures(errors.ApiError):
    code = 429
    subcode = 0
    default_msg = "Too many failed sign-ins"

    @property
    def retry_after(self) -> int:  # sent as Retry-After by the dispatcher, as for every error that has it
        return int(self.kwargs.get("retry_after_sec", 1))


def _settings(config) -> dict:
    defaults = {"window_sec": 300, "max_failures_per_key": 10, "max_failures_per_address": 100,
                "slow_after": 3, "delay_step_ms": 250, "max_delay_ms": 2000}
    tree = config.get("auth.throttle", None) if config is not None else None
    if tree is None:
        return defaults
    return {k: int(tree.get(k, v)) for k, v in defaults.items()}


def _counters(access_key: str, address: str | None, settings: dict) -> dict[str, int]:
    """Counter id -> its limit."""
    key = access_key if len(access_key) <= MAX_KEY_IN_ID else hashlib.sha256(access_key.encode()).hexdigest()
    counters = {f"key:{key}": settings["max_failures_per_key"]}
    if address:
        counters[f"addr:{address}"] = settings["max_failures_per_address"]
    return counters


def check(db, config, access_key: str, address: str | None) -> None:
    """Raises TooManyFailures while the key or the address is over its limit."""
    settings = _settings(config)
    counters = _counters(access_key, address, settings)
    for doc in throttle_db.active(db, list(counters)):
        if doc.get("count", 0) >= counters[doc["_id"]]:
            _refuse(doc)


def failed(db, config, access_key: str, address: str | None) -> bool:
    """Counts a wrong secret, then answers late (or 429 when this failure went over a limit). True when
    this failure began a lockout."""
    settings = _settings(config)
    worst, locked = 0, False
    for counter_id, limit in _counters(access_key, address, settings).items():
        doc = throttle_db.record_failure(db, counter_id, settings["window_sec"])
        if doc.get("count", 0) == limit:
            # From now on check() refuses this key or address, a correct secret included: processes
            # that remember it verified must forget it too (services/credential_lease.py).
            users_db.bump_auth_epoch(db)
            locked = True
        if doc.get("count", 0) > limit:
            _refuse(doc)
        worst = max(worst, doc.get("count", 0))
    over = worst - settings["slow_after"]
    if over > 0:
        # Bounded, so that a failing client holds a worker for at most max_delay_ms per attempt.
        time.sleep(min(settings["delay_step_ms"] * over, settings["max_delay_ms"]) / 1000)
    return locked


def _refuse(doc: dict) -> None:
    reset = doc["reset"]
    if reset.tzinfo is None:
        reset = reset.replace(tzinfo=timezone.utc)
    wait = max(1, math.ceil((reset - datetime.now(timezone.utc)).total_seconds()))
    raise TooManyFailures("wait before signing in again", retry_after_sec=wait)
