"""Numbers change-log entries per company, without gaps.

This version numbers nothing: the change log's writer brings the real sequencer. Push delivery
(services/webhooks/deliverer.py) calls it each round so that entries are numbered even when no API
process is running.
"""

from __future__ import annotations


def sequence_pending(db, company: str | None = None) -> int:
    """Numbers the pending entries (of `company`, or of every company); returns how many."""
    return 0
