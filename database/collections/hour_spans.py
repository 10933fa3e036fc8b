"""Spans of time a records series reads from the records rather than from the roll-ups
(record_rollups_db.series): days not counted, as [from, to) spans however long the asked range, and runs
of single hours, joined."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from database.clock import start_of_day

HOUR = timedelta(hours=1)


def gaps(start: datetime, stop: datetime, days: list[date]) -> list[tuple[datetime, datetime]]:
    """The [from, to) spans of [start, stop) outside these days (sorted dates)."""
    out, cursor = [], start
    for day in days:
        opening = start_of_day(day)
        if opening > cursor:
            out.append((cursor, min(opening, stop)))
        cursor = max(cursor, opening + timedelta(days=1))
    if cursor < stop:
        out.append((cursor, stop))
    return out


def joined(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for low, high in sorted(spans):
        if out and low <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], high))
        else:
            out.append((low, high))
    return out


def runs(hours: list[datetime]) -> list[tuple[datetime, datetime]]:
    """Consecutive hours as [start, end) spans."""
    runs: list[tuple[datetime, datetime]] = []
    for hour in hours:
        if runs and runs[-1][1] == hour:
            runs[-1] = (runs[-1][0], hour + HOUR)
        else:
            runs.append((hour, hour + HOUR))
    return runs
