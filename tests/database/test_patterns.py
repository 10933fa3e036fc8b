"""User regex vetting (database/query/patterns.py): malformed and catastrophic patterns are refused, usual ones pass."""

from __future__ import annotations

import re

import pytest

from database.errors import PatternError
from database.query import patterns
from services import errors, failures
from tests.helpers import schema_specs

CATASTROPHIC = [
    r"(a+)+$", r"^(a+)+$", r"(a*)*", r"(a*)*$", r"(a|a)*", r"(a|a)*$", r"(.*a){20}", r"(\w+\s?)+$", r"(a|aa)+$",
    r"(.*)*x", r"^(\d+)*$", r"(x+x+)+y", r"(\d|\w)+$", r"(a?){30}a{30}", r"(,(a|a))+$", r"(a+a+,)+",
    r"([a-z]+|[0-9a-f]+)*$", r"(?i)(A|a)+$", r"^(([a-z])+.)+[A-Z]([a-z])+$", r".*.*.*.*x", r"(?:a|b|ab)+$",
]

USUAL = [
    r"^abc$", r"^sdk\-eval\-x$", re.escape("my model (v2) [final].pt"), r"model.*v2", r"[a-z]+_[0-9]+", r"abc",
    r".*", r"^(a|b)*$", r"\w+@\w+\.com", r"a.*b.*c", r"(ab)+", r"^[^/]+/[^/]+$", r"(\d+\.)+\d+", r"^(ab|cd)+$",
    r"x{1,3}(y+)", r"(\d{1,3}\.){3}\d{1,3}", r"(\w+\s)+", r"^model_v\d+$", r"(?i)resnet", r"foo|bar",
    r"^(?:train|eval)-\d+$", r"(?=a)b", r"[^,]+(,[^,]+)*", r"(foo|bar)+baz", r"^resnet(18|34|50)$", "",
    r"[^\s,]+(,[^\s,]+)*$", r"(?i)[^,]+(,[^,]+)*$", r"^v(\d+)(\.\d+)*(-rc\d+)?$",
]


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_catastrophic_patterns_are_refused(pattern):
    with pytest.raises(PatternError) as exc:
        patterns.vet_pattern(pattern, "name")
    assert exc.value.kwargs["field"] == "name"
    assert "backtrack catastrophically" in str(exc.value)


@pytest.mark.parametrize("pattern", USUAL)
def test_usual_patterns_pass(pattern):
    assert patterns.vet_pattern(pattern, "name") == pattern
    assert patterns.vet_pattern(pattern, "name", ignore_case=True) == pattern


@pytest.mark.parametrize("pattern", ["(", "[a-", "a{2,1}", "*a", "(?P<x>a)(?P<x>b)", "\\"])
def test_malformed_patterns_are_refused(pattern):
    with pytest.raises(PatternError) as exc:
        patterns.vet_pattern(pattern, "comment")
    assert exc.value.kwargs["field"] == "comment"
    assert type(failures.from_query_error(exc.value)) is errors.InvalidRegex


@pytest.mark.parametrize("pattern", [r"(a)\1", r"(?P<x>a)(?P=x)", r"(a)?(?(1)b|c)", r"(?a)\w", "a(?a:b)"])
def test_features_pcre_treats_differently_are_refused(pattern):
    with pytest.raises(PatternError):
        patterns.vet_pattern(pattern, "name")


def test_ignore_case_widens_the_overlap_check():
    patterns.vet_pattern("(a|A)+$", "name")
    with pytest.raises(PatternError):
        patterns.vet_pattern("(a|A)+$", "name", ignore_case=True)


def test_length_cap():
    assert patterns.MAX_PATTERN_LENGTH == 512
    patterns.vet_pattern("a" * 512, "name")
    with pytest.raises(PatternError):
        patterns.vet_pattern("a" * 513, "name")
    patterns.vet_pattern("a" * 1000, "name", max_length=1000)
    with pytest.raises(PatternError):
        patterns.vet_pattern("abcd", "name", max_length=3)


@pytest.mark.parametrize("value", [None, 5, ["a"], {"$ne": 1}])
def test_non_string_patterns_are_refused(value):
    with pytest.raises(PatternError):
        patterns.vet_pattern(value, "name")


@pytest.mark.parametrize("text", ["plain", "a.b*c+?", "(v2) [final] {x}", "^$|\\", "50% #1 - \t ok", "ünï"])
def test_escape_literal_matches_the_text_literally(text):
    escaped = patterns.escape_literal(text)
    assert re.fullmatch(escaped, text)
    patterns.vet_pattern(escaped, "search_text")


def test_refusal_happens_before_any_database_call(mongo_uri, db_name):
    from database.connection import connect
    from database.query import engine

    # the client is closed: a database call would raise InvalidOperation, not PatternError
    coll = connect(mongo_uri, db_name)["models"]
    coll.database.client.close()
    for data in ({"name": "(a+)+$"}, {"_any_": {"pattern": "(.*a){20}", "fields": ["name"]}},
                 {"comment": "(unclosed"}):
        with pytest.raises(PatternError):
            engine.find_page(coll, schema_specs()["models"], data, None)
