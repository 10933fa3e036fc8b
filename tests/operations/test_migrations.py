"""Upgrades at start: the data of the previous release is brought to the newest data version and served;
runners on several hosts at once run each step once; data newer than the code is refused."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from database import clock, migrations
from database.backup import load
from database.migrations import runner
from server.http.app import build_state, create_app
from tests.helpers import ApiClient, basic

pytestmark = pytest.mark.fresh_database
RELEASE = Path(__file__).parent / "fixtures" / "release_2_3_0"


def test_the_previous_releases_data_is_upgraded_and_served(db, app_config, registry):
    load.restore(db, None, RELEASE)
    assert migrations.current_version(db) == 0 and "meta" not in db.list_collection_names()
    app = create_app(app_config, build_state(app_config, registry))  # the start upgrades
    assert migrations.current_version(db) == migrations.latest_version() >= 1
    client = ApiClient(app, basic("FIXTUREKEY", "fixture-secret"))
    models = client.ok("models.get_all", {"name": "fixture model"}, version="2.13")["models"]
    assert sorted(m["uri"] for m in models) == ["s3://bucket/fixture.pt", "s3://bucket/fixture2.pt"]
    assert client.ok("tasks.get_all", {"name": "fixture task"})["tasks"][0]["type"] == "training"
    create_app(app_config, build_state(app_config, registry))  # a second start changes nothing
    assert migrations.current_version(db) == migrations.latest_version()


def _counting_steps(db, count: int, pause: float = 0.2):
    def step(number):
        def migrate(database):
            database["migration_trace"].update_one({"_id": number}, {"$inc": {"runs": 1}}, upsert=True)
            time.sleep(pause)  # long enough for the other runner to arrive while it runs
        return number, f"m{number:04d}_test", migrate
    return [step(n) for n in range(1, count + 1)]


def test_two_runners_at_once_run_each_step_once(db):
    steps = _counting_steps(db, 3)
    results, errors = [], []

    def start(holder):
        try:
            results.append(migrations.run(db, steps, lease_sec=5, holder=holder))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    hosts = [threading.Thread(target=start, args=(f"host{n}",)) for n in range(2)]
    for host in hosts:
        host.start()
    for host in hosts:
        host.join(60)
    assert not errors and results == [3, 3]
    assert sorted((d["_id"], d["runs"]) for d in db["migration_trace"].find()) == [(1, 1), (2, 1), (3, 1)]
    assert db["meta"].find_one({"_id": runner.LEASE_ID}) is None  # given back


def test_a_dead_runners_lease_is_taken_over_after_it_expires(db):
    db["meta"].insert_one({"_id": runner.LEASE_ID, "holder": "dead host",
                           "expires": clock.now() - timedelta(seconds=1)})
    db["meta"].insert_one({"_id": runner.VERSION_ID, "version": 1})  # it had finished step 1
    steps = _counting_steps(db, 2, pause=0)
    assert migrations.run(db, steps, lease_sec=5, wait_sec=10) == 2
    assert [d["_id"] for d in db["migration_trace"].find()] == [2]


def test_a_held_lease_makes_the_others_wait(db):
    db["meta"].insert_one({"_id": runner.LEASE_ID, "holder": "busy host",
                           "expires": clock.now() + timedelta(seconds=60)})
    with pytest.raises(migrations.MigrationError, match="another host"):
        migrations.run(db, _counting_steps(db, 1, pause=0), wait_sec=0.5)
    assert db["migration_trace"].count_documents({}) == 0


def test_data_newer_than_the_release_is_refused(db):
    db["meta"].insert_one({"_id": runner.VERSION_ID, "version": migrations.latest_version() + 1})
    with pytest.raises(migrations.MigrationError, match="newer than this release"):
        migrations.run(db)


def test_an_upgrade_waits_for_replies_as_long_as_a_step_needs(db, mongo_uri):
    """A step reads whole collections; the embedded server answers a find of a million records only once
    it has gathered them (32 s): an upgrade's connection waits up to an hour for a reply, the API's 30 s."""
    waits = []

    def step(database):
        waits.append(database.client.options.pool_options.socket_timeout)
        database["migration_trace"].insert_one({"_id": "probe"})

    assert migrations.upgrade(db, mongo_uri, 5000, True, 5, [(1, "m0001_probe", step)]) == 1
    assert waits == [migrations.REPLY_TIMEOUT_MS / 1000] and migrations.current_version(db) == 1
    assert db["migration_trace"].find_one({"_id": "probe"}) is not None
    # a start with nothing to upgrade runs nothing (and opens no connection of its own)
    assert migrations.upgrade(db, mongo_uri, 5000, True, 5, [(1, "m0001_probe", step)]) == 1
    assert len(waits) == 1
