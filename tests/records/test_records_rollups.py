"""records.get_series from the per-hour roll-ups (database/collections/record_rollups_db.py, packed by
record_rollup_packs.py): the same buckets as aggregating the records, after adds, edits and deletes, for
the model and for one dimension, with documents nested, packed and both, and hours being written or stale
read from the records."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import pytest

from database.collections import record_rollup_months as months
from database.collections import record_rollup_packs as packs
from database.collections import record_rollups_db as rollups
from database.collections import records_db
from database.collections.records_db import Records
from database.ids import new_id
from tests.helpers import COMPANY_A

V = "2.99"
T0 = datetime(2024, 6, 1, tzinfo=timezone.utc)
MODEL = "r" * 32
HOUR_MS = 3_600_000


def _record(i: int, when: datetime, rng: random.Random) -> dict:
    value = rng.choice([i % 17, (i % 13) / 4, "text", None, True, {"deep": i % 5}])
    return {"_id": new_id(), "user": "u", "model": MODEL, "timestamp": when, "site": f"s{i % 3}",
            "season": "spring" if i % 2 else "fall", "experiment": None, "dataset": None,
            "data": {"v": value, "nested": {"w": i % 7}, "odd.key": 1}, "created": when, "last_update": when}


@pytest.fixture
def records(db):
    records_db.ensure_indexes(db)
    rollups.ensure_indexes(db)
    scoped = Records(db, COMPANY_A)
    rng = random.Random(5)
    # enough for several records in most hours of three days; the bulk and the one-by-one writes each keep
    # the roll-ups their own way
    docs = [_record(i, T0 + timedelta(minutes=rng.randint(0, 3 * 24 * 60)), rng) for i in range(160)]
    scoped.insert_many(docs[:150])
    for doc in docs[150:]:
        scoped.insert(doc)
    return scoped


REQUESTS = [(None, "", []), ("v", "", []), ("nested.w", "", []), ("v", "site", ["s1"]), ("v", "site", ["s0", "s2"]),
            (None, "season", ["spring"]), ("missing", "", [])]


def _both(records: Records, field, dim, values, start=T0, end=T0 + timedelta(days=4) - timedelta(milliseconds=1),
          bucket_ms=3 * HOUR_MS):
    query = {"model": [MODEL], **({dim: values} if dim else {})}
    query["timestamp"] = [">=" + start.isoformat(), "<" + (end + timedelta(milliseconds=1)).isoformat()]
    match = records.stream_filter(query)
    aggregated = records.series(match, field, start, bucket_ms)
    rolled = records.series(match, field, start, bucket_ms, (MODEL, dim, values, end))
    return aggregated, rolled


def _check_all(records: Records) -> None:
    for field, dim, values in REQUESTS:
        aggregated, rolled = _both(records, field, dim, values)
        assert rolled == aggregated, (field, dim, values)
        assert field == "missing" or aggregated, (field, dim, values)


def test_rollups_give_what_the_aggregation_gives(records):
    _check_all(records)
    assert rollups.series(records.db, COMPANY_A, MODEL, "", [], "v", T0, T0 + timedelta(days=1, milliseconds=-1),
                          3 * HOUR_MS,
                          lambda condition: pytest.fail(f"aggregated {condition}"),
                          records.day_counts({"model": MODEL})) is not None


def test_a_cut_last_hour_and_an_unaligned_start(records):
    end = T0 + timedelta(days=2, hours=5, minutes=17)
    aggregated, rolled = _both(records, "v", "", [], end=end)
    assert rolled == aggregated and aggregated
    start = T0 + timedelta(minutes=30)  # not a whole hour: the roll-ups decline, the aggregation answers
    aggregated, rolled = _both(records, "v", "", [], start=start)
    assert rolled == aggregated
    assert rollups.series(records.db, COMPANY_A, MODEL, "", [], "v", start, end, 3 * HOUR_MS, dict) is None


def test_edits_and_deletes_keep_them_right(records):
    docs = list(records.collection.find({"model": MODEL}).sort("_id", 1))
    rng = random.Random(9)
    for doc in rng.sample(docs, 30):
        records.edit(doc, {"data": {"v": rng.randint(-50, 50)}, "site": "s1",
                           "timestamp": doc["timestamp"] + timedelta(hours=rng.randint(-30, 30))})
    _check_all(records)
    assert records.delete_many({"_id": {"$in": [d["_id"] for d in rng.sample(docs, 60)]}}) == 60

    def stale() -> list:
        heads, _ = rollups.read(records.db, COMPANY_A, MODEL, "", [], T0, T0 + timedelta(days=4) - rollups.HOUR)
        return [hour for hour, slot in heads.items() if slot.get("stale") and T0 <= hour < T0 + timedelta(days=4)]

    assert stale()  # deletes leave their hours stale ...
    _check_all(records)  # ... read from the records, and recomputed
    _check_all(records)
    assert not stale()


def test_an_hour_being_written_is_read_from_the_records(records):
    hour = T0 + timedelta(hours=7)
    rollups.begin(records.db, COMPANY_A, [(MODEL, hour)])  # a writer between its two steps
    records.collection.insert_one({**_record(1, hour + timedelta(minutes=5), random.Random(1)), "company": COMPANY_A,
                                   "data": {"v": 1000}})
    aggregated, rolled = _both(records, "v", "", [])
    assert rolled == aggregated and any(values["max"] == 1000 for _, values in rolled)


def test_rebuild_matches_what_the_writes_kept(records):
    kept = _both(records, "v", "site", ["s1"])[1]
    rollups.rebuild(records.db, COMPANY_A, MODEL, records.collection.find({"model": MODEL}))
    assert _both(records, "v", "site", ["s1"])[1] == kept


def test_rollup_writes_leave_no_change_log_entries(records, db):
    assert db["record_rollups"].count_documents({}) > 0
    for log in ("change_log", "change_log_pending"):  # numbered and not yet
        assert db[log].count_documents({"target.type": {"$ne": "record"}}) == 0


def _add(client, model, lines):
    body = "\n".join(json.dumps(line) for line in lines) + "\n"
    reply = client.raw(f"/v{V}/records.add_many", body=body, headers={"Content-Type": "application/x-ndjson"},
                       query_string=f"model={model}")
    assert reply.status_code == 200 and reply.json["data"]["stored"] == len(lines), reply.text[:300]


def test_get_series_in_whole_hours_after_a_delete(client):
    model = client.ok("models.create", {"name": "rollup model", "uri": "file:///tmp/m.pt"}, version="2.13")["id"]
    _add(client, model, [{"timestamp": (T0 + timedelta(minutes=20 * m)).isoformat(), "site": f"s{m % 2}",
                          "data": {"v": m}} for m in range(300)])
    first = client.ok("records.get_all", {"model": [model], "page_size": 1}, version=V)["records"][0]
    client.ok("records.delete", {"record": first["id"]}, version=V)
    for site in (None, "s1"):
        reply = client.ok("records.get_series", {"model": model, "field": "v", "max_points": 10,
                                                 **({"site": site} if site else {})}, version=V)
        assert reply["bucket_ms"] % HOUR_MS == 0 and len(reply["buckets"]) <= 10
        width = timedelta(milliseconds=reply["bucket_ms"])
        groups: dict[int, list[int]] = {}
        for m in range(1, 300):
            if site is None or m % 2 == 1:
                groups.setdefault((T0 + timedelta(minutes=20 * m) - T0) // width, []).append(m)
        assert [(b["count"], b["min"], b["max"], b["mean"]) for b in reply["buckets"]] == [
            (len(v), min(v), max(v), sum(v) / len(v)) for _k, v in sorted(groups.items())]


def _docs(records: Records) -> list[dict]:
    return list(records.db["record_rollups"].find({"company": COMPANY_A, "model": MODEL}))


def test_a_read_packs_settled_past_days_and_later_writes_add_to_them(records):
    assert all("h" in doc and "p" not in doc for doc in _docs(records))  # written nested
    _check_all(records)  # the reads pack the days they read (all before today, none being written)
    docs = _docs(records)
    read = [doc for doc in docs if doc["dim"] in ("", "site") or doc["value"] == "spring"]
    assert read and all("p" in doc and "h" not in doc for doc in read)
    assert all("h" in doc and "p" not in doc for doc in docs if doc["value"] == "fall")  # never read
    rng = random.Random(11)
    # records added to packed hours, and to a new hour, are added to the packed sums
    extra = [_record(1000 + i, T0 + timedelta(minutes=rng.randint(0, 3 * 24 * 60)), rng) for i in range(40)]
    records.insert_many(extra[:30])
    for doc in extra[30:]:
        records.insert(doc)
    assert any("h" in doc and "p" in doc for doc in _docs(records))
    _check_all(records)
    # edits and deletes of packed hours: stale, recomputed, the packed value of the hour set aside
    docs = list(records.collection.find({"model": MODEL}).sort("_id", 1))
    for doc in rng.sample(docs, 20):
        records.edit(doc, {"data": {"v": rng.randint(-50, 50)}, "site": "s2"})
    assert records.delete_many({"_id": {"$in": [d["_id"] for d in rng.sample(docs, 40)]}}) == 40
    _check_all(records)
    _check_all(records)
    assert any("px" in doc for doc in _docs(records)) or all("h" not in doc for doc in _docs(records))
    _check_all(records)


def test_a_write_between_the_read_and_the_packing_is_kept(records):
    read = _docs(records)
    hour = T0 + timedelta(hours=30, minutes=10)
    records.insert(_record(5000, hour, random.Random(3)) | {"data": {"v": 999}})
    today = T0 + timedelta(days=30)
    # the documents written since are left nested
    assert packs.seal(records.db[rollups.ROLLUPS], read, today) < len(read)
    day = T0 + timedelta(days=1)
    nested = sorted(doc["dim"] for doc in _docs(records) if doc["day"] == day and "p" not in doc)
    assert nested == ["", "season", "site"]
    aggregated, rolled = _both(records, "v", "", [])
    assert rolled == aggregated and any(values["max"] == 999 for _, values in rolled)


def test_today_and_days_being_written_stay_nested(records):
    rollups.begin(records.db, COMPANY_A, [(MODEL, T0 + timedelta(hours=2))])  # a writer between its steps
    stored = records.db[rollups.ROLLUPS]
    assert packs.seal(stored, _docs(records), T0 + timedelta(days=1)) == 0  # T0's day has an hour being written
    assert packs.seal(stored, _docs(records), T0 + timedelta(days=2)) > 0  # the next day is over and settled
    by_day: dict = {}
    for doc in _docs(records):
        by_day.setdefault(doc["day"], []).append(doc)
    assert all("h" in doc for doc in by_day[T0])  # T0's head has an hour being written
    assert all("p" in doc for doc in by_day[T0 + timedelta(days=1)])
    assert all("h" in doc and "p" not in doc for day, docs in by_day.items() if day >= T0 + timedelta(days=2)
               for doc in docs)


def test_a_packed_hour_marked_raw_stays_raw_after_later_writes(records):
    hour = T0 + timedelta(hours=40)
    records.insert(_record(7000, hour + timedelta(minutes=1), random.Random(4)) | {"site": "s1",
                                                                                   "data": {"v": float("inf")}})
    _check_all(records)  # packs the day, with that hour marked raw
    assert all("p" in doc for doc in _docs(records) if doc["day"] == T0 + timedelta(days=1) and doc["dim"] == "")
    records.insert(_record(7001, hour + timedelta(minutes=2), random.Random(4)) | {"site": "s1", "data": {"v": 3}})
    for field, dim, values in (("v", "site", ["s1"]), ("v", "", [])):
        aggregated, rolled = _both(records, field, dim, values)
        assert rolled == aggregated


def test_buckets_read_and_summed_here_equal_the_databases_aggregation(records):
    """On the embedded server the buckets that the roll-ups cannot give are read and summed in Python; the
    database's own $group stays the reference: same buckets, counts, lows and highs, sums to the last bits."""
    records.insert_many([_record(9000 + i, T0 + timedelta(hours=i), random.Random(i)) | {
        "data": {"v": [1, 2], "nested": {"w": "7"}, "flag": i % 2 == 0, "n": i - 3}} for i in range(6)])
    match = records.stream_filter({"model": [MODEL]})
    for field in (None, "v", "nested.w", "v.deep", "odd.key", "n", "flag", "missing"):
        for bucket_ms in (1, 7 * 60_000, 3 * HOUR_MS):
            start = T0 - timedelta(minutes=5)
            read = records._series_read(match, field, start, bucket_ms)
            grouped = records._series_grouped(match, field, start, bucket_ms)
            assert read.keys() == grouped.keys(), (field, bucket_ms)
            for index, bucket in grouped.items():
                mine = read[index]
                assert {k: v for k, v in mine.items() if k != "sum"} == {k: v for k, v in bucket.items() if k != "sum"}
                assert abs(mine.get("sum", 0) - bucket.get("sum", 0)) <= 1e-9 * max(1.0, abs(bucket.get("sum", 0)))
            assert field in ("v.deep", "odd.key", "flag", "missing") or grouped, field  # a dotted key is no path


def test_a_refused_packing_does_not_fail_the_read(records):
    from pymongo import WriteConcern

    refusing = records.db.get_collection(rollups.ROLLUPS, write_concern=WriteConcern(w=7, wtimeout=200))
    assert packs.seal(refusing, _docs(records), T0 + timedelta(days=30)) == 0
    _check_all(records)


def test_writers_editors_and_packing_readers_at_once_end_with_the_aggregations_buckets(records):
    """Threads adding, editing and deleting records of the packed days while others read charts (and so
    pack what they find settled): once they are done, every chart equals the aggregation."""
    import threading

    stop = threading.Event()
    errors: list[BaseException] = []

    def guarded(work):
        def run():
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                errors.append(exc)
                stop.set()
        return run

    def writer(seed: int):
        rng = random.Random(seed)
        for i in range(30):
            when = T0 + timedelta(minutes=rng.randint(0, 3 * 24 * 60))
            if i % 3 == 2:
                records.insert_many([_record(20_000 + seed * 100 + i * 3 + k, when, rng) for k in range(3)])
            else:
                records.insert(_record(20_000 + seed * 100 + i, when, rng))
            if i == 29:
                doc = records.collection.find_one({"model": MODEL, "site": f"s{seed % 3}"})
                records.edit(doc, {"data": {"v": rng.randint(-9, 9)}})

    def reader():
        while not stop.is_set():
            for field, dim, values in REQUESTS[:4]:
                _both(records, field, dim, values)

    _check_all(records)  # every day read is packed before the writers start
    writers = [threading.Thread(target=guarded(lambda s=s: writer(s))) for s in range(3)]
    readers = [threading.Thread(target=guarded(reader)) for _ in range(2)]
    for thread in writers + readers:
        thread.start()
    for thread in writers:
        thread.join(120)
    stop.set()
    for thread in readers:
        thread.join(120)
    assert not errors, errors
    assert any("p" in doc and "h" in doc for doc in _docs(records))  # packed hours with records added since
    _check_all(records)  # stale hours read from the records and recomputed
    _check_all(records)


MONTH = "2024-06"


def _month_docs(records: Records) -> dict[tuple[str, str], dict]:
    return {(doc["dim"], doc["value"]): doc
            for doc in records.db[months.MONTHS].find({"company": COMPANY_A, "model": MODEL, "month": MONTH})}


def test_a_settled_month_is_read_from_its_packs_once_its_days_are_packed(records):
    assert [doc.get("days") for doc in _month_docs(records).values()] == [None]  # the writes' epoch only
    _check_all(records)  # the first read of each series packs its days, a later one their month
    _check_all(records)
    packed = _month_docs(records)
    assert {key for key, doc in packed.items() if "days" in doc} == {
        ("", ""), ("site", "s0"), ("site", "s1"), ("site", "s2"), ("season", "spring")}
    assert all(doc["built"] == packed[("", "")].get("epoch", 0) for doc in packed.values())
    served = [_both(records, *request)[1] for request in REQUESTS]
    # the packs alone serve the charts: with the month's day documents gone, the same buckets
    records.db[rollups.ROLLUPS].delete_many({"company": COMPANY_A, "model": MODEL})
    assert [_both(records, *request)[1] for request in REQUESTS] == served
    assert all(served[:-1])  # ("missing" has no values)


def test_a_write_to_a_settled_month_voids_its_packs(records):
    _check_all(records)
    _check_all(records)
    head = _month_docs(records)[("", "")]
    assert head["built"] == head.get("epoch", 0)
    records.insert(_record(7000, T0 + timedelta(hours=5, minutes=3), random.Random(1)) | {"data": {"v": 777}})
    head = _month_docs(records)[("", "")]
    assert head["epoch"] == head["built"] + 1  # bumped before the hour was marked
    aggregated, rolled = _both(records, "v", "", [])
    assert rolled == aggregated and any(values["max"] == 777 for _, values in rolled)
    _check_all(records)
    _check_all(records)  # packed again, with the new record
    head = _month_docs(records)[("", "")]
    assert head["built"] == head["epoch"]
    records.db[rollups.ROLLUPS].delete_many({"company": COMPANY_A, "model": MODEL})
    assert _both(records, "v", "", [])[1] == rolled


def test_a_pack_built_across_a_write_is_never_used(records):
    _check_all(records)
    _check_all(records)
    epochs, _ = months.read(records.db, COMPANY_A, MODEL, "site", ["s1"], [MONTH])
    days = list(records.db[rollups.ROLLUPS].find({"company": COMPANY_A, "model": MODEL, "dim": ""}))
    parts = list(records.db[rollups.ROLLUPS].find({"company": COMPANY_A, "model": MODEL, "dim": "site",
                                                   "value": "s1"}))
    # a writer starts after a reader read the epoch and the days, and before it wrote the packs
    records.insert(_record(7001, T0 + timedelta(hours=9), random.Random(2)) | {"site": "s1", "data": {"v": 555}})
    months.write(records.db, COMPANY_A, MODEL, MONTH, "", "", epochs[MONTH], days)
    months.write(records.db, COMPANY_A, MODEL, MONTH, "site", "s1", epochs[MONTH], parts)
    assert months.read(records.db, COMPANY_A, MODEL, "site", ["s1"], [MONTH])[1] == {}
    for request in (("v", "", []), ("v", "site", ["s1"])):
        aggregated, rolled = _both(records, *request)
        assert rolled == aggregated and any(values["max"] == 555 for _, values in rolled), request


def test_a_dimensions_pack_is_used_only_with_its_heads(records):
    _check_all(records)
    _check_all(records)
    epochs, found = months.read(records.db, COMPANY_A, MODEL, "site", ["s1"], [MONTH])
    assert set(found) == {(MONTH, ""), (MONTH, "s1")}
    # the head's pack stale (a write began), the value's stamped with the current epoch all the same
    months.bump(records.db, COMPANY_A, [(MODEL, T0)])
    parts = months.as_day_docs(found[(MONTH, "s1")])
    months.write(records.db, COMPANY_A, MODEL, MONTH, "site", "s1", epochs[MONTH] + 1, parts)
    assert months.read(records.db, COMPANY_A, MODEL, "site", ["s1"], [MONTH])[1] == {}


def test_the_current_month_is_never_packed(db):
    records_db.ensure_indexes(db)
    rollups.ensure_indexes(db)
    scoped = Records(db, COMPANY_A)
    now = rollups.hour_of(datetime.now(timezone.utc)) - timedelta(hours=1)
    scoped.insert_many([_record(i, now, random.Random(i)) for i in range(5)])
    for _ in range(3):
        _both(scoped, "v", "", [], start=now, end=now + timedelta(hours=1) - timedelta(milliseconds=1),
              bucket_ms=HOUR_MS)
    assert db[months.MONTHS].count_documents({"company": COMPANY_A, "model": MODEL, "days": {"$exists": True}}) == 0
    # and a write to it bumps nothing
    assert db[months.MONTHS].count_documents({"company": COMPANY_A, "model": MODEL}) == 0


def test_deleting_a_models_roll_ups_drops_its_packs(records):
    _check_all(records)
    _check_all(records)
    assert _month_docs(records)
    rollups.forget(records.db, COMPANY_A, MODEL)
    assert _month_docs(records) == {}


def test_a_dimension_read_while_a_write_is_under_way_is_not_packed(records):
    _check_all(records)
    _check_all(records)
    doc = _record(7002, T0 + timedelta(hours=20, minutes=5), random.Random(4)) | {"site": "s1", "data": {"v": 444}}
    hours = rollups.begin(records.db, COMPANY_A, [(MODEL, rollups.hour_of(doc["timestamp"]))])  # a writer's first step
    # a reader now: the head's day is being written, the value's days still hold the old sums
    _both(records, "v", "site", ["s1"])
    assert months.read(records.db, COMPANY_A, MODEL, "site", ["s1"], [MONTH])[1] == {}
    records.collection.insert_one({**doc, "company": COMPANY_A})  # the writer's records, then its sums
    rollups.added(records.db, COMPANY_A, rollups.slots_of([doc]))
    assert hours
    for _ in range(2):  # the head's days read (and packed, then their month) without the value's
        _both(records, "v", "", [])
    assert (MONTH, "") in months.read(records.db, COMPANY_A, MODEL, "", [], [MONTH])[1]
    for _ in range(3):  # the value's days then read and packed: its pack holds the new record
        aggregated, rolled = _both(records, "v", "site", ["s1"])
        assert rolled == aggregated and any(values["max"] == 444 for _, values in rolled)
    assert set(months.read(records.db, COMPANY_A, MODEL, "site", ["s1"], [MONTH])[1]) == {(MONTH, ""), (MONTH, "s1")}


def test_a_pack_is_built_again_after_its_age(records):
    """What a writer that does not bump the epoch (a host of an earlier release) leaves is seen within the
    age bound: an older pack is not used, and the next reads build it again from the days."""
    _check_all(records)
    _check_all(records)
    assert months.read(records.db, COMPANY_A, MODEL, "", [], [MONTH])[1]
    records.db[months.MONTHS].update_many({"company": COMPANY_A, "model": MODEL},
                                          {"$inc": {"at_ms": -months.MAX_AGE_MS}})
    assert months.read(records.db, COMPANY_A, MODEL, "", [], [MONTH])[1] == {}
    _check_all(records)
    assert months.read(records.db, COMPANY_A, MODEL, "", [], [MONTH])[1]


def test_months_without_records_are_not_packed(records):
    """A chart of a long span reads the empty months as one range each time: packing them would cost a
    write per month of whatever span a caller asks for."""
    for _ in range(3):
        aggregated, rolled = _both(records, "v", "", [], start=datetime(2020, 1, 1, tzinfo=timezone.utc),
                                   bucket_ms=24 * HOUR_MS)
        assert rolled == aggregated and rolled
    packed = records.db[months.MONTHS].find({"company": COMPANY_A, "model": MODEL, "days": {"$exists": True}})
    assert {doc["month"] for doc in packed} == {MONTH}
