"""The change log (`change_log`): an append-only log of every change made through the API, numbered
without gaps per company (`seq`) by the sequencer.

A minimal reader: what push delivery (services/webhooks/) needs. Stored fields: `_id`, `company`,
`seq` (absent until numbered), `time`, `user`, `endpoint`, `version`, `trx`, `target` {type, id, name},
`kind`, `changes` {field: {before, after}}, `hash`, `prev_hash`.
"""

from __future__ import annotations

from pymongo import ASCENDING
from pymongo.database import Database

CHANGE_LOG = "change_log"


def ensure_indexes(db: Database) -> None:
    db[CHANGE_LOG].create_index([("company", ASCENDING), ("seq", ASCENDING)])


def entries_after(db: Database, company: str, after_seq: int, kinds: list[str] | None = None,
                  limit: int = 100) -> list[dict]:
    """The numbered entries of `company` after `after_seq`, ascending seq, at most `limit`, of `kinds`
    (exact kind names) when given."""
    condition: dict = {"company": company, "seq": {"$gt": int(after_seq)}}
    if kinds:
        condition["kind"] = {"$in": list(kinds)}
    return list(db[CHANGE_LOG].find(condition).sort("seq", ASCENDING).limit(int(limit)))
