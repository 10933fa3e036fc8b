"""Numbering the change log: gapless per-company seq in order of acknowledgement, and the hash chain.

Entries are written unnumbered (database/collections/recording.py). `sequence_pending` numbers a
company's entries acknowledged more than the settle window ago, under a per-company lease in MongoDB
(database/collections/stream_leases.py: one slot, expiring, so a crashed holder never blocks), so a
write acknowledged earlier but logged a moment later still gets the lower number. Each batch is
numbered, then the head document moved with a compare-and-set; a batch that loses the race is taken
back, and the unique (company, seq) index refuses a number given twice. A sequencer that dies after
numbering but before moving the head is repaired by the next one, which trusts the highest numbered
entry. Readers (audit, feed) call `catch_up`, which waits at most one settle window for the caller's
own newest writes; the delivery process calls `sequence_pending(db)` in a loop.
"""

from __future__ import annotations

import time

from database import connection, ids
from database.collections import change_log_db, stream_leases
from services.changes import chain
from services.changes.settings import ChangeSettings

BATCH = 500
_DEFAULTS = ChangeSettings()


def sequence_pending(db, company: str | None = None, *, settle_sec: float = _DEFAULTS.settle_sec,
                     lease_sec: float = _DEFAULTS.lease_sec) -> int:
    """Numbers the settled pending entries of `company` (None: of every company with pending entries);
    returns how many it numbered. A company whose lease another sequencer holds is skipped."""
    if company is None:  # the delivery loop: also what hosts of an earlier release marked in the log
        change_log_db.adopt_marked(db)
    companies = [company] if company is not None else change_log_db.companies_pending(db)
    return sum(_sequence_company(db, c, settle_sec, lease_sec) for c in companies)


def catch_up(log, settings: ChangeSettings) -> None:
    """Numbers what the company of `log` (a scope's change_log) has pending, waiting (at most a settle
    window, twice if another sequencer holds the lease) for entries acknowledged just now, so a client
    reads its own writes. With nothing pending it is one read: a pending copy outlives its numbering
    until the head covers it, so a head left behind by a sequencer that died still shows as pending."""
    db, company = log.db, log.company
    if change_log_db.youngest_pending(db, company) is None:
        return
    for _ in range(3):
        sequence_pending(db, company, settle_sec=settings.settle_sec, lease_sec=settings.lease_sec)
        youngest = change_log_db.youngest_pending(db, company)
        if youngest is None:
            return
        wait = (youngest + settings.settle_sec * 1e9 - time.time_ns()) / 1e9
        time.sleep(min(settings.settle_sec, max(wait, 0.0)) + 0.005)


def _sequence_company(db, company: str, settle_sec: float, lease_sec: float) -> int:
    holder = ids.new_id()
    slot = stream_leases.take(db, f"change_seq:{company}", 1, holder, lease_sec)
    if slot is None:
        return 0
    try:
        return _number_all(db, company, settle_sec, holder, lease_sec)
    finally:
        stream_leases.release(db, [slot], holder)


def _number_all(db, company: str, settle_sec: float, holder: str, lease_sec: float) -> int:
    head = change_log_db.head(db, company)
    last_seq, last_hash = head["last_seq"], head["hash"]
    newest = change_log_db.last_numbered(db, company, last_seq)
    if newest is not None and int(newest["seq"]) > last_seq:  # a sequencer died before moving the head
        last_seq, last_hash = int(newest["seq"]), newest.get("hash", "")
        change_log_db.set_head(db, company, last_seq, last_hash)
    done, ends = 0, time.monotonic() + lease_sec / 2  # well inside the lease: a backlog is left to the next pass
    while time.monotonic() < ends:
        batch = change_log_db.pending(db, company, time.time_ns() - int(settle_sec * 1e9), BATCH, last_seq)
        if not batch:
            return done
        seq, prev = last_seq, last_hash
        for entry in batch:
            seq += 1
            entry.update(seq=seq, hash=chain.entry_hash(entry, seq, prev), prev_hash=prev)
            prev = entry["hash"]
        entry_ids = [entry["_id"] for entry in batch]
        process = connection.server_process(db)
        if not (change_log_db.number(db, batch, holder)
                and change_log_db.move_head(db, company, last_seq, seq, prev, numbered_on=process)):
            change_log_db.unnumber(db, company, entry_ids, holder)
            return done
        change_log_db.numbered_done(db, entry_ids)
        done += len(batch)
        last_seq, last_hash = seq, prev
        if len(batch) < BATCH:
            return done
    return done
