"""The server's one clock: the current time as MongoDB stores it.

BSON keeps datetimes to the millisecond, so `now()` is cut to the millisecond: a reply that shows a
time just written equals what a later read returns.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


def now() -> datetime:
    """The current time, timezone-aware UTC, to the millisecond."""
    return to_millisecond(datetime.now(timezone.utc))


def to_millisecond(when: datetime) -> datetime:
    """`when` cut to the millisecond MongoDB keeps."""
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


def as_utc(when: datetime) -> datetime:
    """A time read back from MongoDB (naive UTC unless the client is tz-aware) as aware UTC."""
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def epoch_ms(when: datetime) -> int:
    """`when` (naive taken as UTC) in milliseconds since the epoch, exactly (integer arithmetic, no float)."""
    return (as_utc(when) - _EPOCH) // _MS


def start_of_day(day: date) -> datetime:
    """Midnight UTC opening `day`, aware: where a day's records, counts and roll-ups begin."""
    return datetime.combine(day, time(), tzinfo=timezone.utc)


def from_epoch_ms(ms: int) -> datetime:
    """The aware UTC time `ms` milliseconds after the epoch."""
    return _EPOCH + timedelta(milliseconds=ms)
