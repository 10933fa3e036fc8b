"""The query language of models.get_all / get_all_ex / get_by_id_ex: every operator, positive and negative."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from database.collections import models_db
from database.collections.scope import Scope
from tests.helpers import codes

V = "2.23"


def _db(client):
    return client.app.modelreg_state.stores.db


def _create(client, **fields) -> str:
    return client.ok("models.create", {"name": "query-model", "uri": "s3://b/m.pt", **fields}, version=V)["id"]


def _ids(client, query: dict, version: str = V) -> set[str]:
    return {m["id"] for m in client.ok("models.get_all", {**query, "only_fields": ["id"]}, version=version)["models"]}


def _ordered(client, query: dict, version: str = V) -> list[str]:
    return [m["id"] for m in client.ok("models.get_all", {**query, "only_fields": ["id"]}, version=version)["models"]]


@pytest.fixture
def zoo(client):
    """Four models with distinct fields, plus a model of another company that must never show up."""
    project = Scope(_db(client), client.identity["company"]).projects.create_project("u", "zoo")["_id"]
    sub = Scope(_db(client), client.identity["company"]).projects.create_project("u", "zoo/cats")["_id"]
    ids = {
        "lion": _create(client, name="Lion-v1", comment="big cat", tags=["cat", "big"], framework="PyTorch",
                        project=project, uri="s3://b/lion.pt", ready=False, labels={"a": 1, "b": 2}),
        "tiger": _create(client, name="tiger-v2", comment="striped cat", tags=["cat", "striped"], framework="TF",
                         project=sub, uri="s3://b/tiger.pt", system_tags=["archived"]),
        "mouse": _create(client, name="mouse-v1", tags=["small"], framework="PyTorch", uri="s3://b/mouse.pt"),
        "eel": _create(client, name="eel-v3", comment="", uri="s3://b/eel.pt"),
    }
    # a parent that no longer exists (create refuses unknown parents, stored data may still hold one)
    _db(client)["models"].update_one({"_id": ids["lion"]}, {"$set": {"parent": "p1"}})
    db = _db(client)
    for number, key in enumerate(("lion", "tiger", "mouse", "eel")):
        created = datetime(2024, 1, 1 + number, tzinfo=timezone.utc)
        db["models"].update_one({"_id": ids[key]}, {"$set": {"last_iteration": number * 10, "created": created}})
    ids["project"], ids["sub"] = project, sub
    return ids


@pytest.fixture
def foreign(other_client):
    return _create(other_client, name="Lion-foreign", tags=["cat"])


def test_pattern_fields_are_case_sensitive_unanchored_regexes(client, zoo, foreign):
    assert _ids(client, {"name": "v1"}) == {zoo["lion"], zoo["mouse"]}
    assert _ids(client, {"name": "^lion"}) == set()  # case-sensitive
    assert _ids(client, {"name": "^Lion"}) == {zoo["lion"]}
    assert _ids(client, {"comment": "cat$"}) == {zoo["lion"], zoo["tiger"]}
    assert _ids(client, {"comment": "dog"}) == set()


def test_ready_is_equality(client, zoo):
    assert zoo["lion"] in _ids(client, {"ready": False}) and zoo["lion"] not in _ids(client, {"ready": True})
    assert zoo["mouse"] in _ids(client, {"ready": True})


def test_list_fields_any_of_and_scalar(client, zoo, foreign):
    assert _ids(client, {"tags": ["big", "small"]}) == {zoo["lion"], zoo["mouse"]}
    assert _ids(client, {"tags": "striped"}) == {zoo["tiger"]}
    assert _ids(client, {"tags": ["nothing"]}) == set()
    assert _ids(client, {"framework": ["PyTorch"]}) == {zoo["lion"], zoo["mouse"]}
    assert _ids(client, {"uri": ["s3://b/eel.pt"]}) == {zoo["eel"]}
    assert _ids(client, {"id": [zoo["eel"], zoo["lion"], foreign]}) == {zoo["eel"], zoo["lion"]}
    assert _ids(client, {"project": [zoo["project"]]}) == {zoo["lion"]}
    assert _ids(client, {"parent": ["p1"]}) == {zoo["lion"]}
    assert _ids(client, {"user": [client.identity["user"]]}) >= {zoo["lion"], zoo["eel"]}
    assert _ids(client, {"user": ["someone-else"]}) == set()


def test_list_exclusion_and_operators(client, zoo):
    everything = {zoo[k] for k in ("lion", "tiger", "mouse", "eel")}
    assert _ids(client, {"tags": ["-cat"]}) == {zoo["mouse"], zoo["eel"]}
    assert _ids(client, {"system_tags": ["-archived"]}) == everything - {zoo["tiger"]}
    assert _ids(client, {"tags": ["__$all", "cat", "big"]}) == {zoo["lion"]}
    assert _ids(client, {"tags": ["__$all", "cat", "small"]}) == set()
    assert _ids(client, {"tags": ["cat", "__$not", "striped"]}) == {zoo["lion"]}
    assert _ids(client, {"tags": ["__$any", "small", "striped"]}) == {zoo["mouse"], zoo["tiger"]}
    # the first operator seen joins the groups: all-of AND any-of here, any-of OR all-of below
    assert _ids(client, {"tags": ["__$all", "cat", "__$or", "small"]}) == set()
    assert _ids(client, {"tags": ["__$any", "small", "__$all", "cat", "big"]}) == {zoo["mouse"], zoo["lion"]}
    assert _ids(client, {"tags": ["__$all", "cat", "striped", "__$nop", "big"]}) == set()


def test_null_term_matches_missing_and_empty(client, zoo):
    assert _ids(client, {"tags": [None]}) == {zoo["eel"]}
    assert zoo["lion"] not in _ids(client, {"tags": [None]})
    assert _ids(client, {"framework": [None]}) == {zoo["eel"]}
    assert _ids(client, {"project": [None]}) == {zoo["mouse"], zoo["eel"]}


def test_bad_list_terms_are_400_16(client, zoo):
    assert codes(client.error("models.get_all", {"tags": ["__$bogus"]}, version=V)) == (400, 16)


def test_structured_filters(client, zoo):
    filters = {"tags": {"all": {"include": ["cat", "big"]}}}
    assert _ids(client, {"filters": filters}, version="2.26") == {zoo["lion"]}
    filters = {"tags": {"any": {"include": ["small"]}, "all": {"exclude": ["cat"]}, "op": "and"}}
    assert _ids(client, {"filters": filters}, version="2.26") == {zoo["mouse"]}
    filters = {"tags": {"all": {"exclude": ["cat", "small"]}}}
    assert _ids(client, {"filters": filters, "tags": ["cat"]}, version="2.26") == {zoo["eel"]}  # overrides tags
    filters = {"tags": {"any": {"exclude": ["cat", "big"]}}}  # not all of them
    assert zoo["lion"] not in _ids(client, {"filters": filters}, version="2.26")
    assert zoo["tiger"] in _ids(client, {"filters": filters}, version="2.26")


def test_numeric_and_date_ranges(client, zoo):
    assert _ids(client, {"last_iteration": [10, 20]}) == {zoo["tiger"], zoo["mouse"]}
    assert _ids(client, {"last_iteration": [100, None]}) == set()
    assert _ids(client, {"last_iteration": [None, 0]}) == {zoo["lion"]}
    assert _ids(client, {"created": ["2024-01-02T00:00:00", "2024-01-03T00:00:00"]}) == {zoo["tiger"], zoo["mouse"]}
    assert codes(client.error("models.get_all", {"last_iteration": [1, 2, 3]}, version=V)) == (400, 12)


def test_datetime_prefixes(client, zoo):
    later = _create(client, name="late-model")
    cut = (datetime.now(timezone.utc) + timedelta(seconds=1)).isoformat()
    assert later not in _ids(client, {"last_update": [f">={cut}"]})
    assert later in _ids(client, {"last_update": [f"<{cut}"]})
    week_ago = (datetime.now(timezone.utc) - timedelta(days=7)).isoformat()
    assert later in _ids(client, {"last_change": [week_ago, cut]})
    assert codes(client.error("models.get_all", {"last_update": [">=not-a-date"]}, version=V)) == (400, 12)


def test_any_and_all_patterns(client, zoo):
    query = {"_any_": {"pattern": "^lion", "fields": ["name", "comment"]}}  # case-insensitive
    assert _ids(client, query) == {zoo["lion"]}
    query = {"_all_": {"pattern": "cat", "fields": ["comment", "tags"]}}
    assert _ids(client, query) == {zoo["lion"], zoo["tiger"]}
    query = {"_all_": {"pattern": "big", "fields": ["comment", "name"]}}
    assert _ids(client, query) == set()
    both = {"_any_": {"pattern": "x", "datetime": ">2020-01-01", "fields": ["name"]}}
    assert codes(client.error("models.get_all", both, version=V)) == (400, 12)
    assert codes(client.error("models.get_all", {"_any_": {"fields": ["name"]}}, version=V)) == (400, 12)


def test_search_text(client, zoo):
    assert _ids(client, {"search_text": "STRIPED"}) == {zoo["tiger"]}
    assert _ids(client, {"search_text": zoo["mouse"]}) == {zoo["mouse"]}
    assert _ids(client, {"search_text": "nothing-like-this"}) == set()
    assert _ordered(client, {"search_text": "cat", "order_by": ["@text_score"]})
    assert codes(client.error("models.get_all", {"order_by": ["@text_score"]}, version=V)) == (400, 16)


def test_hostile_and_malformed_patterns_are_refused_fast(client, zoo):
    started = time.monotonic()
    meta = client.error("models.get_all", {"name": "(a+)+$"}, version=V)
    assert codes(meta) == (400, 21) and "backtrack" in meta["result_msg"]
    meta = client.error("models.get_all", {"_any_": {"pattern": "(x|x)*y", "fields": ["name"]}}, version=V)
    assert codes(meta) == (400, 21)
    assert time.monotonic() - started < 2
    assert codes(client.error("models.get_all", {"name": "(unclosed"}, version=V)) == (400, 21)


def test_order_by(client, zoo):
    four = [zoo["lion"], zoo["tiger"], zoo["mouse"], zoo["eel"]]
    assert _ordered(client, {"id": four, "order_by": ["created"]}) == four
    assert _ordered(client, {"id": four, "order_by": ["-last_iteration"]}) == four[::-1]
    # ascending: missing or empty values come last
    assert _ordered(client, {"id": four, "order_by": ["framework"]})[-1] == zoo["eel"]
    assert _ordered(client, {"id": four, "order_by": ["-framework", "name"]}) == [
        zoo["tiger"], zoo["lion"], zoo["mouse"], zoo["eel"]]
    by_ready = _ordered(client, {"id": four, "order_by": ["ready"]})
    assert by_ready == [zoo["lion"], *sorted([zoo["tiger"], zoo["mouse"], zoo["eel"]])]  # ties broken by id
    assert codes(client.error("models.get_all", {"order_by": ["nonsense"]}, version=V)) == (400, 14)


def test_only_fields(client, zoo):
    reply = client.ok("models.get_all", {"id": [zoo["lion"]], "only_fields": ["name", "tags"]}, version=V)
    assert reply["models"] == [{"name": "Lion-v1", "tags": ["big", "cat"]}]
    reply = client.ok("models.get_all", {"id": [zoo["lion"]], "only_fields": ["-design", "-labels"]}, version=V)
    model = reply["models"][0]
    assert model["id"] == zoo["lion"] and "design" not in model and "labels" not in model and "ui_cache" not in model
    assert codes(client.error("models.get_all", {"only_fields": ["bogus"]}, version=V)) == (400, 14)
    ex = client.ok("models.get_all_ex", {"id": [zoo["lion"]], "only_fields": ["name"]}, version=V)["models"]
    assert ex == [{"id": zoo["lion"], "name": "Lion-v1"}]


def test_include_subprojects(client, zoo):
    assert _ids(client, {"project": [zoo["project"]]}, version="2.15") == {zoo["lion"]}
    both = {zoo["lion"], zoo["tiger"]}
    assert _ids(client, {"project": [zoo["project"]], "include_subprojects": True}, version="2.15") == both


def test_paging_and_the_cap_of_500(client):
    db = _db(client)
    docs = [{**models_db.new_model_doc(client.identity["user"], {"name": f"bulk-{i:04d}", "tags": ["bulk"]}),
             "company": client.identity["company"]} for i in range(520)]
    db["models"].insert_many(docs)
    assert len(client.ok("models.get_all", {"only_fields": ["id"]}, version=V)["models"]) == 500
    assert len(client.ok("models.get_all", {"only_fields": ["id"], "page_size": 1000}, version=V)["models"]) == 500
    query = {"tags": ["bulk"], "order_by": ["name"], "only_fields": ["name"], "page_size": 200}
    pages = [client.ok("models.get_all", {**query, "page": p}, version=V)["models"] for p in range(3)]
    assert [len(p) for p in pages] == [200, 200, 120]
    assert pages[1][0]["name"] == "bulk-0200" and pages[2][-1]["name"] == "bulk-0519"
    assert codes(client.error("models.get_all", {"page": -1}, version=V)) == (400, 12)
    assert codes(client.error("models.get_all", {"page_size": 0}, version=V)) == (400, 12)


def test_null_page_size_is_400_11(client):
    assert codes(client.error("models.get_all", {"page_size": None}, version=V)) == (400, 11)


def test_scroll(client):
    db = _db(client)
    docs = [{**models_db.new_model_doc(client.identity["user"], {"name": f"scroll-{i:02d}"}),
             "company": client.identity["company"]} for i in range(25)]
    db["models"].insert_many(docs)
    query = {"order_by": ["name"], "only_fields": ["name"], "size": 10}
    first = client.ok("models.get_all", {**query, "scroll_id": None}, version="2.15")
    assert len(first["models"]) == 10 and first["scroll_id"]
    second = client.ok("models.get_all", {**query, "scroll_id": first["scroll_id"]}, version="2.15")
    third = client.ok("models.get_all", {**query, "scroll_id": second["scroll_id"]}, version="2.15")
    names = [m["name"] for m in first["models"] + second["models"] + third["models"]]
    assert names == [f"scroll-{i:02d}" for i in range(25)]
    refreshed = client.ok("models.get_all", {**query, "scroll_id": third["scroll_id"], "refresh_scroll": True},
                          version="2.15")
    assert len(refreshed["models"]) == 25
    fresh = client.ok("models.get_all", {**query, "scroll_id": "unknown-id"}, version="2.15")
    assert [m["name"] for m in fresh["models"]] == names[:10]
    assert codes(client.error("models.get_all", {"scroll_id": None}, version="2.15")) == (400, 12)
    assert "scroll_id" not in client.ok("models.get_all", {"page_size": 1}, version="2.15")


def test_get_all_ex_references_joins_and_stats(client, zoo):
    _db(client)["models"].update_one({"_id": zoo["mouse"]}, {"$set": {"project": None}})  # moved to the root
    query = {"id": [zoo["lion"], zoo["mouse"]], "order_by": ["name"],
             "only_fields": ["name", "project.name", "user", "task", "parent", "company"], "include_stats": True}
    lion, mouse = client.ok("models.get_all_ex", query, version="2.13")["models"]
    assert lion["project"] == {"id": zoo["project"], "name": "zoo"}
    assert lion["parent"] == {"id": "p1"} and lion["user"] == {"id": client.identity["user"]}
    assert lion["company"] == {"id": client.identity["company"]}
    assert "task" not in lion  # absent stays absent
    assert mouse["project"] is None  # empty reference: null, never {}
    assert lion["stats"] == {"labels_count": 2} and mouse["stats"] == {"labels_count": 0}
    plain = client.ok("models.get_all", {"id": [zoo["lion"]], "only_fields": ["project"]}, version=V)["models"]
    assert plain == [{"project": zoo["project"]}]
    user = client.ok("models.get_all_ex", {"id": [zoo["lion"]], "only_fields": ["user.name"]}, version=V)["models"]
    assert user[0]["user"] == {"id": client.identity["user"], "name": "alice"}


def test_get_by_id_ex_needs_id(client, zoo):
    meta = client.error("models.get_by_id_ex", {"name": "x"}, version="2.11")
    assert codes(meta) == (400, 11) and "id" in meta["result_msg"]
    models = client.ok("models.get_by_id_ex", {"id": [zoo["lion"]]}, version="2.11")["models"]
    assert [m["id"] for m in models] == [zoo["lion"]] and models[0]["project"] == {"id": zoo["project"]}


def test_get_frameworks(client, zoo, other_client):
    _create(other_client, framework="Secret", public=False)
    _create(other_client, framework="SharedFW", public=True)
    assert client.ok("models.get_frameworks", {}, version="2.8")["frameworks"] == ["PyTorch", "SharedFW", "TF"]
    within = client.ok("models.get_frameworks", {"projects": [zoo["project"]]}, version="2.8")["frameworks"]
    assert within == ["PyTorch", "TF"]  # subprojects included
    assert client.ok("models.get_frameworks", {"projects": [zoo["sub"]]}, version="2.8")["frameworks"] == ["TF"]


def test_a_page_beyond_any_possible_result_is_a_400(client):
    meta = client.error("models.get_all", {"page": 2**58, "page_size": 500}, version=V)
    assert codes(meta) == (400, 12) and "page" in meta["result_msg"]
