"""The sequencer numbers a company's entries gapless and in order while writes and other sequencers
run at the same time, and repairs a head left behind by a sequencer that died."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import pytest

from database.collections import change_log_db
from services.changes import chain
from services.changes.sequencer import sequence_pending


def _numbered(db, company: str) -> list[dict]:
    return list(change_log_db.scan(db, company))


def test_concurrent_sequencers_and_writers_give_gapless_numbers(app, client):
    db = app.modelreg_state.stores.db
    company = client.identity["company"]
    stop = threading.Event()

    def sequence() -> None:
        while not stop.is_set():
            sequence_pending(db, company, settle_sec=0.02)

    def write(n: int) -> None:
        for i in range(15):
            client.ok("projects.create", {"name": f"p-{n}-{i}"}, version="2.13")

    sequencers = [threading.Thread(target=sequence) for _ in range(3)]
    writers = [threading.Thread(target=write, args=(n,)) for n in range(3)]
    for t in sequencers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in sequencers:
        t.join()
    sequence_pending(db, company, settle_sec=0)
    numbered = _numbered(db, company)
    assert [e["seq"] for e in numbered] == list(range(1, 46))
    # causal order: a writer's next call starts after its previous one was answered, so it is numbered
    # after it, whatever the settle window (concurrent calls of different writers may interleave)
    for n in range(3):
        mine = [e for e in numbered if e["target"]["name"].startswith(f"p-{n}-")]
        assert [e["target"]["name"] for e in mine] == [f"p-{n}-{i}" for i in range(15)]
        assert [e["acked_ns"] for e in mine] == sorted(e["acked_ns"] for e in mine)
    assert change_log_db.head(db, company)["last_seq"] == 45
    assert chain.verify(change_log_db.scan(db, company), 1, 45) == (45, None)


def test_a_head_left_behind_is_repaired(app, client):
    db = app.modelreg_state.stores.db
    company = client.identity["company"]
    for n in range(3):
        client.ok("projects.create", {"name": f"p-head-{n}"}, version="2.13")
    sequence_pending(db, company, settle_sec=0)
    # as if a sequencer numbered the last entries and died before moving the head
    db[change_log_db.HEADS].update_one({"_id": company}, {"$set": {"last_seq": 1}})
    client.ok("projects.create", {"name": "p-head-after"}, version="2.13")
    sequence_pending(db, company, settle_sec=0)
    numbered = _numbered(db, company)
    assert [e["seq"] for e in numbered] == [1, 2, 3, 4]
    assert chain.verify(change_log_db.scan(db, company), 1, 4) == (4, None)


def _old_entries(company: str, tick: int, prefix: str) -> list[dict]:
    return [{"_id": f"{prefix}-{n}", "company": company, "time": datetime.now(timezone.utc), "user": "u",
             "endpoint": "projects.create", "version": "2.13", "trx": "t", "kind": "project.created",
             "target": {"type": "project", "id": f"p{n}", "name": f"p{n}"}, "changes": {}, "acked_ns": tick + n}
            for n in range(3)]


@pytest.mark.fresh_database
def test_entries_of_earlier_releases_are_numbered_after_the_upgrade(db):
    from database import indexes
    from database.migrations import m0002_change_log_indexes, m0007_pending_entries_apart

    indexes.ensure_indexes(db)
    log = db[change_log_db.CHANGE_LOG]
    log.create_index([("company", 1), ("acked_ns", 1)], name="company_acked")  # an earlier release's
    company, tick = "company_upgrade", time.time_ns()
    log.insert_many(_old_entries(company, tick, "old"))  # unnumbered and unmarked
    assert sequence_pending(db, company, settle_sec=0) == 0  # in the log: the sequencer does not see them
    m0002_change_log_indexes.migrate(db)
    assert log.count_documents({"pending": True}) == 3
    copied = {k: v for k, v in log.find_one({"_id": "old-0"}).items() if k != "pending"}
    db[change_log_db.PENDING].insert_one(copied)  # as a run that died before deleting it left it
    m0007_pending_entries_apart.migrate(db)
    m0007_pending_entries_apart.migrate(db)  # idempotent
    assert "company_acked" not in log.index_information()
    assert log.count_documents({"company": company}) == 0
    assert sequence_pending(db, company, settle_sec=0) == 3
    assert [e["_id"] for e in _numbered(db, company)] == ["old-0", "old-1", "old-2"]
    assert db[change_log_db.PENDING].count_documents({"company": company}) == 0
    assert chain.verify(change_log_db.scan(db, company), 1, 3) == (3, None)


def test_entries_a_host_of_the_earlier_release_marks_in_the_log_are_numbered(app, client):
    """During a rolling upgrade, hosts not upgraded yet keep logging entries marked `pending` in the log
    itself: the delivery loop's sequencer moves them where it numbers them, in acknowledgement order."""
    db = app.modelreg_state.stores.db
    company = client.identity["company"]
    client.ok("projects.create", {"name": "p-new-host"}, version="2.13")
    new_entry = db[change_log_db.PENDING].find_one({"company": company})
    marked = [{**entry, "pending": True} for entry in _old_entries(company, new_entry["acked_ns"] + 1, "marked")]
    db[change_log_db.CHANGE_LOG].insert_many(marked)
    assert sequence_pending(db, company, settle_sec=0) == 1  # a reader's pass numbers only what it finds apart
    db[change_log_db.PENDING].insert_one({k: v for k, v in marked[0].items() if k != "pending"})  # a move cut short
    assert sequence_pending(db, None, settle_sec=0) >= 3  # the delivery loop's pass
    assert [e["_id"] for e in _numbered(db, company)] == [new_entry["_id"], "marked-0", "marked-1", "marked-2"]
    assert db[change_log_db.CHANGE_LOG].count_documents({"company": company, "pending": True}) == 0
    assert db[change_log_db.PENDING].count_documents({"company": company}) == 0
    assert chain.verify(change_log_db.scan(db, company), 1, 4) == (4, None)


def _pending_numbered(db, company: str, first_seq: int, prev: str) -> list[dict]:
    batch = change_log_db.pending(db, company, None, 10, first_seq - 1)
    for seq, entry in enumerate(batch, first_seq):
        entry.update(seq=seq, hash=chain.entry_hash(entry, seq, prev), prev_hash=prev)
        prev = entry["hash"]
    return batch


def test_a_sequencer_that_lost_the_race_takes_back_only_its_own_numbers(app, client):
    db = app.modelreg_state.stores.db
    company = client.identity["company"]
    client.ok("projects.create", {"name": "p-race"}, version="2.13")
    batch = _pending_numbered(db, company, 1, "")
    assert len(batch) == 1
    assert change_log_db.number(db, batch, "first")
    assert not change_log_db.number(db, batch, "second")  # the same entries and numbers, already given
    change_log_db.unnumber(db, company, [e["_id"] for e in batch], "second")
    assert [e["seq"] for e in _numbered(db, company)] == [1]  # the first sequencer's number stays
    assert change_log_db.pending(db, company, None, 10, 0) == []  # numbered above the head: not offered again
    assert change_log_db.move_head(db, company, 0, 1, batch[-1]["hash"])
    assert chain.verify(change_log_db.scan(db, company), 1, 1) == (1, None)
    assert db[change_log_db.PENDING].count_documents({"company": company}) == 1  # its copy, until covered
    assert change_log_db.pending(db, company, None, 10, 1) == []
    assert db[change_log_db.PENDING].count_documents({"company": company}) == 0


def test_a_pass_ends_inside_its_lease(app, client):
    db = app.modelreg_state.stores.db
    company = client.identity["company"]
    client.ok("projects.create", {"name": "p-lease"}, version="2.13")
    assert sequence_pending(db, company, settle_sec=0, lease_sec=0) == 0  # no time left: the next pass
    assert sequence_pending(db, company, settle_sec=0, lease_sec=10) == 1


def test_readers_get_only_the_entries_the_head_covers(app, client):
    db = app.modelreg_state.stores.db
    company = client.identity["company"]
    for n in range(2):
        client.ok("projects.create", {"name": f"p-above-{n}"}, version="2.13")
    batch = _pending_numbered(db, company, 1, "")
    assert change_log_db.number(db, batch, "slow")  # its head not moved yet: the numbers may be taken back
    assert change_log_db.entries_after(db, company, 0, None, 10) == []
    assert change_log_db.entries_after(db, company, 0, ["project.created"], 10) == []
    assert change_log_db.move_head(db, company, 0, 2, batch[-1]["hash"])
    assert [e["seq"] for e in change_log_db.entries_after(db, company, 0, None, 10)] == [1, 2]
    assert [e["seq"] for e in change_log_db.entries_after(db, company, 0, ["project.created"], 10)] == [1, 2]


def test_numbers_taken_back_unless_the_head_covers_them(app, client):
    db = app.modelreg_state.stores.db
    company = client.identity["company"]
    client.ok("projects.create", {"name": "p-back"}, version="2.13")
    batch = _pending_numbered(db, company, 1, "")
    assert change_log_db.number(db, batch, "slow")
    change_log_db.unnumber(db, company, [e["_id"] for e in batch], "slow")  # its head move failed
    assert _numbered(db, company) == []
    assert [e["_id"] for e in change_log_db.pending(db, company, None, 10, 0)] == [batch[0]["_id"]]
    assert change_log_db.number(db, batch, "slow")
    change_log_db.set_head(db, company, 1, batch[0]["hash"])  # another sequencer adopted its numbers
    change_log_db.unnumber(db, company, [e["_id"] for e in batch], "slow")
    assert [e["seq"] for e in _numbered(db, company)] == [1]



def test_reads_after_a_cursor_are_by_number_and_cross_entries_retention_deleted(app, client):
    db = app.modelreg_state.stores.db
    company = client.identity["company"]
    for n in range(5):
        client.ok("projects.create", {"name": f"p-read-{n}"}, version="2.13")
    sequence_pending(db, company, settle_sec=0)
    seqs = [e["seq"] for e in _numbered(db, company)]
    assert seqs == [1, 2, 3, 4, 5]
    assert [e["seq"] for e in change_log_db.entries_after(db, company, 1, None, 2)] == [2, 3]
    db[change_log_db.CHANGE_LOG].delete_many({"company": company, "seq": {"$lte": 2}})  # as retention does
    assert [e["seq"] for e in change_log_db.entries_after(db, company, 0, None, 2)] == [3, 4]
    assert [e["seq"] for e in change_log_db.entries_after(db, company, 3, None, 10)] == [4, 5]
    assert change_log_db.first_time_after(db, company, 1) and change_log_db.first_time_after(db, company, 4)
    assert change_log_db.first_time_after(db, company, 5) is None
    assert change_log_db.entries_after(db, company, 5, None, 10) == []


def test_a_reader_with_nothing_pending_catches_up_in_one_read(app, client):
    """changes.get_since polls catch_up every poll interval while it waits: with nothing pending that is
    one read, not a sequencer's pass (lease, head, repair check, pending, release)."""
    from types import SimpleNamespace

    from pymongo import MongoClient, monitoring

    from services.changes.sequencer import catch_up
    from services.changes.settings import ChangeSettings

    class Commands(monitoring.CommandListener):
        def __init__(self):
            self.names: list[str] = []

        def started(self, event):
            self.names.append(event.command_name)

        def succeeded(self, event):
            pass

        def failed(self, event):
            pass

    app_db = app.modelreg_state.stores.db
    company = client.identity["company"]
    client.ok("projects.create", {"name": "p-catch"}, version="2.13")
    commands = Commands()
    host, port = app_db.client.address
    watched = MongoClient(host, port, event_listeners=[commands], tz_aware=True)
    try:
        log = SimpleNamespace(db=watched[app_db.name], company=company)
        settings = ChangeSettings(settle_sec=0.0)
        catch_up(log, settings)  # numbers the project's entry
        assert [e["target"]["name"] for e in _numbered(app_db, company)] == ["p-catch"]
        commands.names.clear()
        catch_up(log, settings)
        assert commands.names == ["find"]
    finally:
        watched.close()
