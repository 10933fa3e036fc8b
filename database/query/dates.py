"""The one reader of dates and date-times that come in requests, for stored fields and filters alike.

Accepted dates lie between EARLIEST and LATEST (UTC): Python's datetime range less a day at each end,
so that converting an offset (at most a day) to UTC or stepping a day or a millisecond past a bound (an
inclusive range written as "before the next day") never leaves the range. Anything else is refused
with a 400 naming the field, instead of an OverflowError deep inside a handler or a query.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Any

from database import clock
from database.errors import QueryError

EARLIEST = datetime(1, 1, 2, tzinfo=timezone.utc)
LATEST = datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=timezone.utc)
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_RANGE_TEXT = f"between {EARLIEST.date()} and {LATEST.date()} (UTC)"


class DateError(QueryError):
    """A date the API cannot take; the message names the field."""

    def __init__(self, name: str, text: str, value: Any):
        super().__init__(text, field=name, value=value)


def parse_datetime(value: Any, name: str) -> datetime:
    """An ISO 8601 string (or a datetime) as an aware UTC datetime; naive means UTC."""
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            text = value.strip()
            # Python 3.10's fromisoformat does not take a "Z" suffix
            parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except (AttributeError, TypeError, ValueError):
            raise DateError(name, "expected an ISO 8601 date-time", value) from None
    try:
        parsed = parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)
    except OverflowError:  # the offset moves it past year 1 or 9999
        parsed = None
    if parsed is None or not EARLIEST <= parsed <= LATEST:
        raise DateError(name, f"dates must lie {_RANGE_TEXT}", value)
    return parsed


def parse_date(value: Any, name: str) -> date:
    """A calendar date written YYYY-MM-DD."""
    try:
        if not _DAY.match(value):
            raise ValueError(value)
        parsed = date.fromisoformat(value)
    except (TypeError, ValueError):
        raise DateError(name, "expected a date as YYYY-MM-DD", value) from None
    if not EARLIEST.date() <= parsed <= LATEST.date():
        raise DateError(name, f"dates must lie {_RANGE_TEXT}", value)
    return parsed


def through(when: datetime) -> dict:
    """"At or before `when`" as "before the next millisecond": the same documents on both servers (stored
    times are whole milliseconds), but the embedded server's scan of a compound index drops a document
    equal to an inclusive upper bound on a field other than the index's last (`$lte`)."""
    return {"$lt": min(clock.to_millisecond(when) + timedelta(milliseconds=1), LATEST)}
