"""A write's change-log entries are inserted right after it, journaled and in the order of the call's
writes (also when the call then fails), so the call needs no journal flush of its own.
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
    return list(db[change_log_db.PENDING].find({"company": recorder.company}).sort("acked_ns", 1))


def _projects(db, recorder: Recorder) -> RecordingCollection:
    return RecordingCollection(db["projects"], recorder)


def test_each_write_has_its_entries_at_once_in_the_order_of_the_writes(db):
    recorder = _recorder(db)
    projects = _projects(db, recorder)
    with bound(recorder):
        for n in range(3):
            projects.insert_one({"_id": f"p{n}-{recorder.trx}", "company": recorder.company, "name": f"p{n}"})
            assert len(_logged(db, recorder)) == n + 1  # before the call's next write
    logged = _logged(db, recorder)
    assert [e["target"]["name"] for e in logged] == ["p0", "p1", "p2"]
    assert all("seq" not in e for e in logged)  # numbered later, into the log readers see
    assert db[change_log_db.CHANGE_LOG].count_documents({"company": recorder.company}) == 0
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


class _Writes(monitoring.CommandListener):
    """The write commands of one call, in order: (command name, collection, journaled)."""

    def __init__(self):
        self.commands: list[tuple[str, str, bool]] = []
        self.active = True  # pymongo keeps registered listeners for good: this one stops with its test

    def started(self, event):
        if self.active and event.command_name in ("insert", "update", "delete", "findAndModify"):
            concern = event.command.get("writeConcern") or {}
            self.commands.append((event.command_name, event.command.get(event.command_name),
                                  bool(concern.get("j"))))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


@pytest.mark.fresh_database
def test_a_create_inserts_journaled_entries_after_each_write_and_no_flush(app_config, registry):
    writes = _Writes()
    monitoring.register(writes)  # clients made from now on report to it: the app's below
    try:
        with app_with(app_config, registry, {}) as application:
            client = make_user(application, "once", new_company("o"), role="admin")
            writes.commands.clear()
            model = client.ok("models.create", {"name": "once", "uri": "s3://b/o"}, version=V)["id"]
            writes.active = False
            stored = application.modelreg_state.stores.db[change_log_db.PENDING].count_documents(
                {"target.id": model})
    finally:
        writes.active = False
    logged = [n for n, (_, collection, _) in enumerate(writes.commands) if collection == change_log_db.PENDING]
    assert len(logged) >= 2  # the model and its registered model's counter, each after its write
    assert all(n > 0 and writes.commands[n - 1][1] != change_log_db.PENDING for n in logged)
    assert all(writes.commands[n][2] for n in logged)  # journaled
    assert logged[-1] == len(writes.commands) - 1  # the last write: no separate journal flush
    assert stored == 1
