"""records.add_many: JSON lines (or a JSON list) stored in batches, each refused line named and none lost
with it; the model's company only; a failing call says what it stored."""

from __future__ import annotations

import json

from services.records.ingest import BATCH
from tests.helpers import app_with, codes, make_user, new_company

V = "2.99"
PATH = f"/v{V}/records.add_many"
NDJSON = {"Content-Type": "application/x-ndjson"}


def new_model(client, name="ingest model") -> str:
    return client.ok("models.create", {"name": name, "uri": "file:///tmp/m.pt"}, version="2.13")["id"]


def add_many(client, body: bytes | str, **params) -> dict:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    reply = client.raw(PATH, body=body, headers=NDJSON, query_string=query)
    assert reply.status_code == 200, reply.text[:500]
    data = reply.json["data"]
    schema = client.registry.resolve("records.add_many", (2, 99)).response_validator
    assert not list(schema.iter_errors(data))
    return data


def lines(items) -> str:
    return "\n".join(item if isinstance(item, str) else json.dumps(item) for item in items) + "\n"


def stored(client, model, **filters) -> list[dict]:
    reply = client.raw(f"/v{V}/records.get_all", body={"model": model, **filters},
                       headers={"Accept": "application/x-ndjson"})
    assert reply.status_code == 200
    return [json.loads(line) for line in reply.text.splitlines() if line]


def test_good_lines_are_stored_across_batches_and_bad_ones_named(client):
    model = new_model(client)
    client.ok("datasets.create", {"model": model, "name": "plots"}, version=V)
    good = [{"timestamp": f"2024-05-01T00:00:{n % 60:02d}Z", "site": f"s{n % 3}", "season": "spring",
             "data": {"n": n}, "info": {"i": n}} for n in range(BATCH * 2 + 5)]
    good[7]["dataset"] = "plots"
    bad = ['{"site": ', '[1, 2]', json.dumps({"site": 5}), json.dumps({"timestamp": "yesterday"}),
           json.dumps({"collection_date": "2024-4-1"}), json.dumps({"dataset": "no such set"})]
    body = lines(good[:3] + bad + [""] + good[3:])
    reply = add_many(client, body, model=model)
    assert (reply["stored"], reply["refused_count"], reply["lines"]) == (len(good), len(bad), len(good) + len(bad))
    assert [r["line"] for r in reply["refused"]] == [4, 5, 6, 7, 8, 9]  # numbered as in the file, from 1
    messages = [r["error"] for r in reply["refused"]]
    assert "malformed JSON" in messages[0] and "JSON object" in messages[1]
    assert "site" in messages[2] and "timestamp" in messages[3] and "collection_date" in messages[4]
    assert "dataset" in messages[5]
    records = stored(client, model)
    assert sorted(r["data"]["n"] for r in records) == list(range(len(good)))
    by_n = {r["data"]["n"]: r for r in records}
    assert by_n[7]["dataset"] and by_n[8]["dataset"] is None
    assert by_n[4]["site"] == "s1" and by_n[4]["info"] == {"i": 4} and by_n[4]["model"] == model
    # the days are counted: filters and windows see every one
    assert len(stored(client, model, site="s1")) == len([g for g in good if g["site"] == "s1"])


def test_a_json_list_body_and_a_default_dataset(client):
    model = new_model(client)
    dataset = client.ok("datasets.create", {"model": model, "name": "fields"}, version=V)["id"]
    body = json.dumps([{"site": "a"}, {"site": "b", "dataset": None}, "not an object", {"season": []}])
    reply = add_many(client, body, model=model, dataset="fields")
    assert (reply["stored"], reply["lines"]) == (2, 4)
    assert [r["line"] for r in reply["refused"]] == [3, 4]
    records = {r["site"]: r for r in stored(client, model)}
    assert records["a"]["dataset"] == dataset and records["b"]["dataset"] is None
    assert add_many(client, b"", model=model) == {"stored": 0, "lines": 0, "refused_count": 0, "refused": []}


def test_only_own_models_and_writing_roles(app, client):
    model = new_model(client)
    company = client.identity["company"]
    other = make_user(app, "intruder", new_company("i"))
    reply = other.raw(PATH, body=lines([{"site": "x"}]), headers=NDJSON, query_string=f"model={model}")
    assert codes(reply.json["meta"]) == (400, 201)
    guest = make_user(app, "guest", company, role="guest")
    reply = guest.raw(PATH, body=lines([{"site": "x"}]), headers=NDJSON, query_string=f"model={model}")
    assert reply.status_code == 403
    reply = client.raw(PATH, body=lines([{"site": "x"}]), headers=NDJSON, query_string=f"model={model}&dataset=nope")
    assert codes(reply.json["meta"]) == (400, 1101)
    assert stored(client, model) == []


def test_a_line_longer_than_a_request_body_is_refused_alone(app_config, registry):
    with app_with(app_config, registry, {"server.max_json_body": 2000}) as application:
        client = make_user(application, "bulk", new_company("b"), role="admin")
        model = new_model(client)
        body = lines([{"site": "before"}, {"data": "x" * 5000}, {"site": "after"}])
        reply = add_many(client, body, model=model)
        assert reply["stored"] == 2 and reply["refused"] == [{"line": 2, "error": "line longer than 2000 bytes"}]
        assert sorted(r["site"] for r in stored(client, model)) == ["after", "before"]
        too_big = json.dumps([{"data": "x" * 5000}])
        reply = client.raw(PATH, body=too_big, headers=NDJSON, query_string=f"model={model}")
        assert reply.status_code == 413 and "stored=0" in reply.json["meta"]["result_msg"]
