"""The shared get_all query engine (database/query/engine.py), run against the embedded MongoDB-compatible server."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from database.errors import FieldValueError, MissingFieldsError, PatternError, QueryError, UnknownFieldError
from database.query import engine as query
from database.query import metadata_keys, scroll
from tests.helpers import schema_specs

SPEC = schema_specs()["models"]
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def _model(_id: str, **fields) -> dict:
    doc = {"_id": _id, "company": "c1", "name": f"model {_id}", "created": T0, "ready": False, "tags": [],
           "system_tags": [], "metadata": {}, "ui_cache": {"x": 1}, "company_origin": "c0", "unique_metrics": ["m"]}
    doc.update(fields)
    return doc


@pytest.fixture
def models(db):
    coll = db["models"]
    coll.insert_many([
        _model("m1", name="resnet50 v2", tags=["a", "b"], framework="pytorch", ready=True,
               created=T0, last_iteration=10, comment="best (v2) [final]",
               last_update=T0 + timedelta(days=1), project="p1",
               metadata={metadata_keys.escape_key("acc"): {"key": "acc", "type": "float", "value": "10"},
                         metadata_keys.escape_key("a.b"): {"key": "a.b", "type": "str", "value": "x"}},
               last_metrics={"h1": {"v1": {"value": 0.5}}}),
        _model("m2", name="resnet18", tags=["b"], framework="keras", created=T0 + timedelta(days=1),
               last_iteration=20, comment="plain", last_update=T0 + timedelta(days=2), project="p2",
               metadata={"acc": {"key": "acc", "type": "float", "value": "9"}},
               last_metrics={"h1": {"v1": {"value": 0.9}}}),
        _model("m3", name="bert", tags=["c"], system_tags=["archived"], created=T0 + timedelta(days=2),
               last_iteration=30, last_update=T0 + timedelta(days=3), project="p1"),
        _model("m4", name="gpt", created=T0 + timedelta(days=3), tags=None, framework=""),
    ])
    return coll


def ids(coll, data, base=None, **kw) -> list[str]:
    docs, _ = query.find_page(coll, SPEC, data, base, **kw)
    return [d["id"] for d in docs]


def sids(coll, data) -> list[str]:
    return sorted(ids(coll, data))


# ---- list fields ------------------------------------------------------------------------------------------------

def test_list_any_of_by_default_and_scalar_is_wrapped(models):
    assert sids(models, {"tags": ["a", "c"]}) == ["m1", "m3"]
    assert sids(models, {"tags": "b"}) == ["m1", "m2"]
    assert sids(models, {"tags": ["zzz"]}) == []


def test_list_legacy_exclusion(models):
    assert sids(models, {"system_tags": ["-archived"]}) == ["m1", "m2", "m4"]
    assert sids(models, {"tags": ["b", "-a"]}) == ["m2"]


def test_list_exclusion_prefix_only_before_an_operator(models):
    # after __$all, "-a" is a plain value: nothing is tagged "-a"
    assert sids(models, {"tags": ["__$all", "b", "-a"]}) == []
    models.update_one({"_id": "m2"}, {"$push": {"tags": "-a"}})
    assert sids(models, {"tags": ["__$all", "b", "-a"]}) == ["m2"]


def test_list_not_excludes_the_next_value_only(models):
    assert sids(models, {"tags": ["__$not", "a"]}) == ["m2", "m3", "m4"]
    assert sids(models, {"tags": ["__$not", "a", "b"]}) == ["m2"]
    assert sids(models, {"tags": ["__$not", "c", "-b"]}) == []  # after an operator "-b" is a plain value


def test_list_all_and_any_switch(models):
    assert sids(models, {"tags": ["__$all", "a", "b"]}) == ["m1"]
    assert sids(models, {"tags": ["__$and", "b", "c"]}) == []
    # first operator (__$all) joins the groups with AND: all of [a] AND any of [b, c]
    assert sids(models, {"tags": ["__$all", "a", "__$any", "b", "c"]}) == ["m1"]
    # first operator __$or: any of [c] OR all of [a, b]
    assert sids(models, {"tags": ["__$or", "c", "__$and", "a", "b"]}) == ["m1", "m3"]


def test_list_nop_resets_to_any_of(models):
    assert sids(models, {"tags": ["__$all", "a", "__$nop", "c"]}) == []
    assert sids(models, {"tags": ["__$all", "__$nop", "a", "c"]}) == ["m1", "m3"]


def test_list_null_term_matches_missing_empty_and_null(models):
    assert sids(models, {"tags": [None]}) == ["m4"]
    models.update_one({"_id": "m2"}, {"$set": {"tags": []}})
    models.update_one({"_id": "m3"}, {"$unset": {"tags": ""}})
    assert sids(models, {"tags": [None]}) == ["m2", "m3", "m4"]
    assert sids(models, {"tags": [None, "a"]}) == ["m1", "m2", "m3", "m4"]
    assert sids(models, {"tags": ["__$not", None]}) == ["m1"]


def test_list_id_maps_to_underscore_id(models):
    assert sids(models, {"id": ["m1", "m3"]}) == ["m1", "m3"]
    assert sids(models, {"id": "m2"}) == ["m2"]
    assert sids(models, {"id": ["-m2"]}) == ["m1", "m3", "m4"]


def test_list_bad_terms(models):
    with pytest.raises(FieldValueError) as exc:
        ids(models, {"tags": [1]})
    assert exc.value.kwargs["field"] == "tags"
    with pytest.raises(FieldValueError):
        ids(models, {"tags": ["__$bogus", "a"]})
    with pytest.raises(FieldValueError):
        ids(models, {"tags": [{"$ne": "a"}]})


def test_unknown_keys_are_ignored(models):
    assert sids(models, {"nonsense": ["x"], "$where": "1"}) == ["m1", "m2", "m3", "m4"]


# ---- filters form (2.27) ----------------------------------------------------------------------------------------

def test_filters_form(models):
    assert sids(models, {"filters": {"tags": {"any": {"include": ["a", "c"]}}}}) == ["m1", "m3"]
    assert sids(models, {"filters": {"tags": {"all": {"include": ["a", "b"]}}}}) == ["m1"]
    assert sids(models, {"filters": {"tags": {"all": {"exclude": ["b"]}}}}) == ["m3", "m4"]
    # any-exclude means "not all of"
    assert sids(models, {"filters": {"tags": {"any": {"exclude": ["a", "b"]}}}}) == ["m2", "m3", "m4"]
    assert sids(models, {"filters": {"tags": {"any": {"include": ["c"]}, "all": {"include": ["a"]},
                                              "op": "or"}}}) == ["m1", "m3"]
    assert sids(models, {"filters": {"tags": {"any": {"include": ["c"]}, "all": {"include": ["a"]}}}}) == []
    assert sids(models, {"filters": {"tags": {"any": {"include": [None]}}}}) == ["m4"]


def test_filters_override_the_top_level_key(models):
    assert sids(models, {"tags": ["c"], "filters": {"tags": {"any": {"include": ["a"]}}}}) == ["m1"]
    assert sids(models, {"framework": ["keras"], "filters": {"tags": {"any": {"include": ["b"]}}}}) == ["m2"]


def test_filters_bad_terms(models):
    with pytest.raises(FieldValueError):
        ids(models, {"filters": {"tags": {"any": {"include": [3]}}}})
    with pytest.raises(FieldValueError):
        ids(models, {"filters": {"name": {"any": {"include": ["x"]}}}})


# ---- patterns, equality, ranges, datetimes ---------------------------------------------------------------------

def test_name_and_comment_are_case_sensitive_unanchored_regexes(models):
    assert sids(models, {"name": "resnet"}) == ["m1", "m2"]
    assert sids(models, {"name": "^resnet18$"}) == ["m2"]
    assert sids(models, {"name": "ResNet"}) == []
    assert sids(models, {"name": r"^sdk\-eval\-x$"}) == []
    assert sids(models, {"comment": r"\(v2\)"}) == ["m1"]


def test_bad_and_catastrophic_patterns_are_refused(models):
    with pytest.raises(PatternError) as exc:
        ids(models, {"name": "(unclosed"})
    assert exc.value.kwargs["field"] == "name"
    with pytest.raises(PatternError):
        ids(models, {"comment": "(a+)+$"})


def test_equality(models):
    assert sids(models, {"ready": True}) == ["m1"]
    assert sids(models, {"ready": None}) == ["m1", "m2", "m3", "m4"]  # null is no condition
    assert sids(models, {"ready": False}) == ["m2", "m3", "m4"]
    with pytest.raises(FieldValueError):
        ids(models, {"ready": {"$ne": True}})


def test_ranges_inclusive_with_open_ends(models):
    assert sids(models, {"last_iteration": [10, 20]}) == ["m1", "m2"]
    assert sids(models, {"last_iteration": [21, None]}) == ["m3"]
    # an open minimum also matches a missing value (m4 has no last_iteration)
    assert sids(models, {"last_iteration": [None, 10]}) == ["m1", "m4"]
    assert sids(models, {"last_iteration": [100, 200]}) == []
    assert sids(models, {"created": ["2024-01-02T00:00:00", "2024-01-03T00:00:00+00:00"]}) == ["m2", "m3"]
    assert sids(models, {"last_metrics.h1.v1.value": [0.6, 1]}) == ["m2"]


@pytest.mark.parametrize("bad", [[1], [1, 2, 3], 5, ["x", 1], [True, 2]])
def test_bad_ranges(models, bad):
    with pytest.raises(QueryError) as exc:
        ids(models, {"last_iteration": bad})
    assert exc.value.kwargs["field"] == "last_iteration"


def test_datetime_prefixes(models):
    assert sids(models, {"last_update": ">2024-01-03T00:00:00"}) == ["m3"]
    assert sids(models, {"last_update": [">=2024-01-03T00:00:00"]}) == ["m2", "m3"]
    assert sids(models, {"last_update": ["<2024-01-03", ">2024-01-01T12:00:00Z"]}) == ["m1"]
    assert sids(models, {"last_update": ["<=2024-01-02T00:00:00+00:00"]}) == ["m1"]
    assert sids(models, {"last_update": ["<=2024-01-02T00:00:00Z"]}) == ["m1"]
    assert sids(models, {"last_update": ["2024-01-02", "2024-01-03"]}) == ["m1", "m2"]
    assert sids(models, {"last_update": ["<2023-01-01"]}) == []
    # a naive time is UTC; an offset is honoured
    assert sids(models, {"last_update": ["2024-01-02T02:00:00+02:00"]}) == ["m1"]


def test_bad_datetime(models):
    with pytest.raises(QueryError) as exc:
        ids(models, {"last_update": ">yesterday"})
    assert exc.value.kwargs["field"] == "last_update"
    with pytest.raises(QueryError):
        ids(models, {"last_update": 5})


# ---- _any_/_all_, search_text -----------------------------------------------------------------------------------

def test_any_and_all(models):
    assert sids(models, {"_any_": {"pattern": "BERT|plain", "fields": ["name", "comment"]}}) == ["m2", "m3"]
    assert sids(models, {"_or_": {"pattern": "^m4$", "fields": ["id", "name"]}}) == ["m4"]
    assert sids(models, {"_all_": {"pattern": "RESNET", "fields": ["name", "comment"]}}) == []
    assert sids(models, {"_and_": {"pattern": "v2", "fields": ["name", "comment"]}}) == ["m1"]
    assert sids(models, {"_any_": {"datetime": ">2024-01-03T12:00:00", "fields": ["last_update", "created"]}}) \
        == ["m3", "m4"]


@pytest.mark.parametrize("bad", [{"pattern": "a", "datetime": ">2024-01-01", "fields": ["name"]},
                                 {"fields": ["name"]}, "x"])
def test_any_needs_exactly_one_of_pattern_and_datetime(models, bad):
    with pytest.raises(QueryError) as exc:
        ids(models, {"_any_": bad})
    assert exc.value.kwargs["field"] == "_any_"


def test_any_pattern_is_vetted(models):
    with pytest.raises(PatternError):
        ids(models, {"_any_": {"pattern": "(x|x)*$", "fields": ["name"]}})


def test_search_text_escapes_metacharacters(models):
    assert sids(models, {"search_text": "(V2) [FINAL]"}) == ["m1"]
    assert sids(models, {"search_text": "resnet"}) == ["m1", "m2"]
    assert sids(models, {"search_text": "m3"}) == ["m3"]  # id is a text field
    assert sids(models, {"search_text": "p2"}) == ["m2"]  # so is project
    assert sids(models, {"search_text": "res.et"}) == []
    assert sids(models, {"search_text": "(a+)+$"}) == []


# ---- metadata ---------------------------------------------------------------------------------------------------

def test_metadata_conditions(models):
    assert sids(models, {"metadata.acc.value": "9"}) == ["m2"]
    assert sids(models, {"metadata.acc": ["10", "9"]}) == ["m1", "m2"]
    assert sids(models, {"metadata.a%2Eb.value": "x"}) == ["m1"]
    assert sids(models, {"metadata.acc.value": ["-9"]}) == ["m1", "m3", "m4"]
    assert sids(models, {"metadata.acc.value": "11"}) == []
    assert sids(models, {"filters": {"metadata.acc": {"any": {"include": ["9", "10"]}}}}) == ["m1", "m2"]


def test_metadata_keys_roundtrip():
    for key in ["a.b", "$x", "_lead", "a__b", "50%", "%_x", "%2E", "plain", " spaced "]:
        escaped = metadata_keys.escape_key(key)
        assert "." not in escaped and not escaped.startswith(("$", "_"))
        assert metadata_keys.unescape_key(escaped) == key.strip()
    assert metadata_keys.escape_key("_a.b$") == "%_a%2Eb%24"
    assert metadata_keys.escape_key("a__b") == "a%_%_b"
    with pytest.raises(QueryError) as exc:
        metadata_keys.escape_key("  ", field="metadata")
    assert type(exc.value) is QueryError and exc.value.kwargs["field"] == "metadata"
    assert metadata_keys.escape_path("metadata.a%2Eb.value") == "metadata.a%2Eb.value"
    assert metadata_keys.escape_path("metadata._x") == "metadata.%_x"
    with pytest.raises(UnknownFieldError):
        metadata_keys.escape_path("metadata.a.b.c")


# ---- order_by ---------------------------------------------------------------------------------------------------

def test_order_by(models):
    assert ids(models, {"order_by": ["-created"]}) == ["m4", "m3", "m2", "m1"]
    assert ids(models, {"order_by": ["created"]}) == ["m1", "m2", "m3", "m4"]
    assert ids(models, {"order_by": "-last_iteration"}) == ["m3", "m2", "m1", "m4"]
    # id is appended: equal keys come in id order
    assert ids(models, {"order_by": ["ready"]}) == ["m2", "m3", "m4", "m1"]
    assert query.build_sort(SPEC, ["-name", "id"]) == [("name", -1), ("_id", 1)]
    assert query.build_sort(SPEC, ["name"]) == [("name", 1), ("_id", 1)]
    assert query.build_sort(SPEC, None) == []


def test_ascending_first_key_puts_missing_and_empty_last(models):
    # m4 has framework "" and m3 none at all
    assert ids(models, {"order_by": ["framework"]}) == ["m2", "m1", "m3", "m4"]
    assert ids(models, {"order_by": ["-framework"]}) == ["m1", "m2", "m4", "m3"]
    assert ids(models, {"order_by": ["last_iteration"]}) == ["m1", "m2", "m3", "m4"]


def test_metadata_sorts_numerically(models):
    # "9" < "10" as numbers, though not as strings; missing values last
    assert ids(models, {"order_by": ["metadata.acc"]}) == ["m2", "m1", "m3", "m4"]
    assert ids(models, {"order_by": ["-metadata.acc.value"]})[:2] == ["m1", "m2"]
    assert ids(models, {"order_by": ["-last_metrics.h1.v1.value"]})[:2] == ["m2", "m1"]


def test_order_by_errors(models):
    with pytest.raises(UnknownFieldError) as exc:
        ids(models, {"order_by": ["-nonsense"]})
    assert exc.value.kwargs["field"] == "nonsense"
    with pytest.raises(FieldValueError):
        ids(models, {"order_by": ["@text_score"]})
    assert ids(models, {"order_by": ["@text_score", "created"], "search_text": "resnet"}) == ["m1", "m2"]


# ---- paging -----------------------------------------------------------------------------------------------------

def test_page_and_page_size(models):
    order = {"order_by": ["created"]}
    assert ids(models, {**order, "page": 0, "page_size": 3}) == ["m1", "m2", "m3"]
    assert ids(models, {**order, "page": 1, "page_size": 3}) == ["m4"]
    assert ids(models, {**order, "page": 5, "page_size": 3}) == []
    assert ids(models, {**order, "page_size": 2}) == ["m1", "m2"]


def test_page_size_cap(models):
    order = {"order_by": ["created"]}
    assert ids(models, {**order, "page_size": 100}, max_page_size=2) == ["m1", "m2"]
    assert ids(models, order, max_page_size=3) == ["m1", "m2", "m3"]
    # page without page_size pages by the cap
    assert ids(models, {**order, "page": 1}, max_page_size=3) == ["m4"]


@pytest.mark.parametrize("data, error", [({"page": -1}, QueryError), ({"page_size": 0}, QueryError),
                                         ({"page_size": "x"}, QueryError), ({"page_size": None}, MissingFieldsError)])
def test_bad_paging(models, data, error):
    with pytest.raises(error):
        ids(models, data)


def test_base_filter_scopes_the_query(models):
    models.insert_one(_model("other", company="c2", tags=["a"]))
    models.insert_one(_model("public", company="", tags=["a"]))
    base = {"company": {"$in": ["c1", ""]}}
    assert sorted(ids(models, {"tags": ["a"]}, base)) == ["m1", "public"]
    assert sorted(ids(models, {"tags": ["a"]}, {"company": "c2"})) == ["other"]


# ---- scroll -----------------------------------------------------------------------------------------------------

def test_scroll(models):
    scroll.ensure_indexes(models.database)
    data = {"order_by": ["created"], "scroll_id": None, "size": 3}
    docs, sid = query.find_page(models, SPEC, data, company="c1")
    assert [d["id"] for d in docs] == ["m1", "m2", "m3"] and sid
    docs, sid2 = query.find_page(models, SPEC, {**data, "scroll_id": sid}, company="c1")
    assert [d["id"] for d in docs] == ["m4"] and sid2 == sid
    docs, _ = query.find_page(models, SPEC, {**data, "scroll_id": sid}, company="c1")
    assert docs == []
    docs, _ = query.find_page(models, SPEC, {**data, "scroll_id": sid, "refresh_scroll": True}, company="c1")
    assert [d["id"] for d in docs] == ["m1", "m2", "m3", "m4"]
    # another company cannot continue it: it silently starts anew
    docs, other = query.find_page(models, SPEC, {**data, "scroll_id": sid}, company="c2")
    assert [d["id"] for d in docs] == ["m1", "m2", "m3"] and other != sid


def test_scroll_unknown_or_expired_id_starts_anew(models):
    data = {"order_by": ["created"], "scroll_id": "nope", "size": 2}
    docs, sid = query.find_page(models, SPEC, data, company="c1")
    assert [d["id"] for d in docs] == ["m1", "m2"] and sid != "nope"
    # an expired state the TTL monitor has not removed yet is not used
    models.database[scroll.COLLECTION].update_one(
        {"_id": sid}, {"$set": {"expires_at": datetime.now(timezone.utc) - timedelta(seconds=1)}})
    docs, sid2 = query.find_page(models, SPEC, {**data, "scroll_id": sid}, company="c1")
    assert [d["id"] for d in docs] == ["m1", "m2"] and sid2 != sid


def test_scroll_state_document(models):
    db = models.database
    scroll.save(db, "s1", 7, 600, company="c1")
    state = db[scroll.COLLECTION].find_one({"_id": "s1"})
    assert state["position"] == 7 and state["company"] == "c1"
    assert state["expires_at"] > state["created"]
    assert scroll.get_position(db, "s1", "c1") == ("s1", 7)
    scroll.ensure_indexes(db)
    index = db[scroll.COLLECTION].index_information()["expires_at_ttl"]
    assert index["expireAfterSeconds"] == 0


@pytest.mark.parametrize("data", [{"scroll_id": None}, {"scroll_id": None, "size": 0},
                                  {"scroll_id": "x", "size": None}])
def test_scroll_needs_size(models, data):
    with pytest.raises(QueryError) as exc:
        ids(models, data)
    assert exc.value.kwargs["field"] == "size"


# ---- only_fields ------------------------------------------------------------------------------------------------

def _one(coll, only_fields, _id="m1") -> dict:
    docs, _ = query.find_page(coll, SPEC, {"id": [_id], "only_fields": only_fields}, None)
    return docs[0]


def test_only_fields_lists_paths(models):
    assert _one(models, ["name"]) == {"name": "resnet50 v2"}
    assert _one(models, ["id", "name", "tags"]) == {"id": "m1", "name": "resnet50 v2", "tags": ["a", "b"]}
    assert _one(models, ["last_metrics.h1.v1.value", "last_metrics"]) == {
        "last_metrics": {"h1": {"v1": {"value": 0.5}}}}
    assert _one(models, ["id", "last_metrics.h1.v1.value"]) == {"id": "m1",
                                                                "last_metrics": {"h1": {"v1": {"value": 0.5}}}}


def test_only_fields_metadata_paths_are_escaped_and_shown_unescaped(models):
    assert _one(models, ["metadata.a%2Eb"]) == {"metadata": {"a.b": {"key": "a.b", "type": "str", "value": "x"}}}
    assert _one(models, ["metadata.acc.value"]) == {"metadata": {"acc": {"value": "10"}}}


def test_only_fields_exclusion_and_hidden_fields(models):
    full = _one(models, None)
    assert full["id"] == "m1" and "name" in full
    assert not {"ui_cache", "company_origin", "unique_metrics"} & set(full)
    excluded = _one(models, ["-name", "-metadata"])
    assert "name" not in excluded and "metadata" not in excluded and "tags" in excluded
    assert "ui_cache" not in excluded
    assert _one(models, ["ui_cache", "company_origin"]) == {"ui_cache": {"x": 1}, "company_origin": "c0"}


def test_only_fields_unknown_field(models):
    with pytest.raises(UnknownFieldError) as exc:
        _one(models, ["id", "bogus.x"])
    assert exc.value.kwargs["field"] == "bogus.x"


def test_build_projection():
    assert query.build_projection(SPEC, ["id", "name"]) == {"_id": 1, "name": 1}
    assert query.build_projection(SPEC, ["name"]) == {"name": 1, "_id": 0}
    assert query.build_projection(SPEC, ["-name"]) == {"name": 0, **{f: 0 for f in SPEC.hidden_fields}}
    assert {"company_origin", "ui_cache", "unique_metrics"} <= SPEC.hidden_fields


# ---- include_subprojects ----------------------------------------------------------------------------------------

def test_expand_projects_and_include_subprojects(models):
    db = models.database
    db["projects"].insert_many([
        {"_id": "p1", "parent": None, "path": []},
        {"_id": "p1a", "parent": "p1", "path": ["p1"]},
        {"_id": "p1a1", "parent": "p1a", "path": ["p1", "p1a"]},
        {"_id": "p2", "parent": None, "path": []},
    ])
    assert query.expand_projects(db, ["p1"]) == ["p1", "p1a", "p1a1"]
    assert query.expand_projects(db, "p2") == ["p2"]
    models.update_one({"_id": "m4"}, {"$set": {"project": "p1a1"}})
    assert sids(models, {"project": ["p1"]}) == ["m1", "m3"]
    assert sids(models, {"project": ["p1"], "include_subprojects": True}) == ["m1", "m3", "m4"]
    assert sids(models, {"project": ["-p1"], "include_subprojects": True}) == ["m2"]
    assert sids(models, {"project": ["__$not", "p1"], "include_subprojects": True}) == ["m2"]


def test_to_api():
    doc = {"_id": "x", "metadata": {"%_a%2Eb": {"key": "_a.b"}}}
    assert query.to_api(doc) == {"id": "x", "metadata": {"_a.b": {"key": "_a.b"}}}

