"""The one rule for a field path a request names (database/query/specs.py `QuerySpec.check_known`): the
stored path it answers, and the paths it refuses before they reach MongoDB."""

from __future__ import annotations

import pytest

from database.errors import UnknownFieldError
from database.query import engine
from database.query.specs import QuerySpec

SPEC = QuerySpec(known_fields=frozenset({"id", "name", "data", "file", "metadata"}),
                 secret_fields=frozenset({"file.key"}))


def test_a_known_path_answers_its_stored_path():
    assert SPEC.check_known("id") == "_id"
    assert SPEC.check_known("data.a$b.c") == "data.a$b.c"  # `$` inside a segment is a plain character
    assert SPEC.check_known("metadata.$x.value") == "metadata.%24x.value"  # keys are escaped before storing
    assert SPEC.check_known("file.size") == "file.size"


@pytest.mark.parametrize("path", ["data.$where", "$where", "data..x", "data.", ".data", "id.$", "name.\u0000",
                                  "metadata.k.$x", "metadata.k\u0000", "nosuch", "file.key", "file.key.x"])
def test_a_path_mongodb_would_misread_or_a_secret_is_an_unknown_field(path):
    with pytest.raises(UnknownFieldError) as refused:
        SPEC.check_known(path)
    assert refused.value.kwargs == {"field": path}


def test_secrets_are_left_out_of_projections_and_documents():
    assert engine.build_projection(SPEC, None) == {"file.key": 0}
    assert engine.build_projection(SPEC, ["file"]) == {"file": 1, "_id": 0}
    doc = {"file": {"key": "k", "size": 1}, "data": {"file": {"key": "mine"}}}
    assert engine.drop_secrets(SPEC, doc) == {"file": {"size": 1}, "data": {"file": {"key": "mine"}}}
    listed = {"file": [{"key": "k", "size": 1}, "text", {"size": 2}]}
    assert engine.drop_secrets(SPEC, listed) == {"file": [{"size": 1}, "text", {"size": 2}]}
