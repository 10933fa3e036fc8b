"""A call's change-log entries are inserted together when the call ends, with one journaled insert, and
still when it fails part-way (for the writes that succeeded); a long call inserts them in bounded chunks.
Real embedded database, real recorder and recording collections."""

from __future__ import annotations

import uuid

import pytest
from pymongo import monitoring
from pymongo.errors import DuplicateKeyError

from database.collections import change_log_db
from database.collections.recording import Recorder, RecordingCollection, bound
from services.changes.kinds import kind_of
from tests.helpers import app_with, make_user, new_company

V = "2.13"


def _recorder(db, **options) -> Recorder:
    return Recorder(db, new_company("r"), "u1", "projects.create", "2.13", uuid.uuid4().hex, kind_of, **options)


def _logged(db, recorder: Recorder) -> list[dict]:
    return list(db[change_log_db.CHANGE_LOG].find({"company": recorder.company}).sort("acked_ns", 1))


def _projects(db, recorder: Recorder) -> RecordingCollection:
    return RecordingCollection(db["projects"], recorder)


def test_entries_are_inserted_when_the_call_ends_in_the_order_of_its_writes(db):
    recorder = _recorder(db)
    projects = _projects(db, recorder)
    with bound(recorder):
        for n in range(3):
            projects.insert_one({"_id": f"p{n}-{recorder.trx}", "company": recorder.company, "name": f"p{n}"})
        assert _logged(db, recorder) == []  # held until the end of the call
    logged = _logged(db, recorder)
    assert [e["target"]["name"] for e in logged] == ["p0", "p1", "p2"]
    assert all(e["pending"] is True and "seq" not in e for e in logged)
    stamps = [e["acked_ns"] for e in logged]
    assert stamps == sorted(set(stamps))


def test_a_call_that_fails_still_logs_the_writes_before_its_error(db):
    recorder = _recorder(db)
    projects = _projects(db, recorder)
    done = {"_id": f"done-{recorder.trx}", "company": recorder.company, "name": "done"}
    with pytest.raises(DuplicateKeyError), bound(recorder):
        projects.insert_one(done)
        projects.insert_one({**done, "name": "refused"})  # the same _id: the database refuses it
    assert [e["target"]["name"] for e in _logged(db, recorder)] == ["done"]


def test_a_long_call_inserts_its_entries_in_bounded_chunks(db):
    recorder = _recorder(db, flush_every=3)
    projects = _projects(db, recorder)
    with bound(recorder):
        for n in range(7):
            projects.insert_one({"_id": f"p{n}-{recorder.trx}", "company": recorder.company, "name": f"p{n}"})
            assert len(_logged(db, recorder)) == (n + 1) // 3 * 3  # never more than 3 held
            assert len(recorder.held) == (n + 1) % 3
    assert len(_logged(db, recorder)) == 7


def test_entries_held_past_the_hold_time_go_in_at_the_next_write(db):
    recorder = _recorder(db, hold_ns=0)  # every entry is too old by the next write
    projects = _projects(db, recorder)
    with bound(recorder):
        projects.insert_one({"_id": f"a-{recorder.trx}", "company": recorder.company, "name": "a"})
        assert _logged(db, recorder) == []
        projects.insert_one({"_id": f"b-{recorder.trx}", "company": recorder.company, "name": "b"})
        assert [e["target"]["name"] for e in _logged(db, recorder)] == ["a", "b"]


class _Inserts(monitoring.CommandListener):
    def __init__(self):
        self.commands: list[dict] = []
        self.active = True  # pymongo keeps registered listeners for good: this one stops with its test

    def started(self, event):
        if (self.active and event.command_name == "insert"
                and event.command.get("insert") == change_log_db.CHANGE_LOG):
            self.commands.append(dict(event.command))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


@pytest.mark.fresh_database
def test_a_create_logs_its_entries_with_one_journaled_insert(app_config, registry):
    inserts = _Inserts()
    monitoring.register(inserts)  # clients made from now on report to it: the app's below
    try:
        with app_with(app_config, registry, {}) as application:
            client = make_user(application, "once", new_company("o"), role="admin")
            inserts.commands.clear()
            model = client.ok("models.create", {"name": "once", "uri": "s3://b/o"}, version=V)["id"]
    finally:
        inserts.active = False
    assert len(inserts.commands) == 1
    command = inserts.commands[0]
    assert command["writeConcern"]["j"] is True
    assert len(command["documents"]) >= 2  # the model and its registered model's counter
    assert model in {d["target"]["id"] for d in command["documents"]}
