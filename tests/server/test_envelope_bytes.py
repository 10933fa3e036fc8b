"""A successful call's reply is written without encoding its meta each time: the bytes must stay those of
the envelope built and encoded whole, whatever the trx, versions and data hold."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone

import pytest

from server.http import envelope

CASES = [
    dict(call_id="a" * 32, trx="a" * 32, endpoint="models.get_by_id", requested=(2, 13), actual=(2, 1),
         data={"model": {"id": "m", "created": datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=timezone.utc)}}),
    dict(call_id="b" * 32, trx='quote " backslash \\ newline \n ünïcode ☃', endpoint="x.y", requested=None,
         actual=None, data=None),
    dict(call_id="c" * 32, trx="", endpoint="models.get_all", requested=(2, 99), actual=(2, 100),
         data={"models": [{"id": "ok"}, {"id": "bad", "value": float("nan")}], "tags": {"a", "b"} and ["a"]}),
    dict(call_id="d" * 32, trx="t", endpoint="e.f", requested=(2, 20), actual=(2, 20),
         data={"naive": datetime(2020, 1, 1), "bytes": b"\xff", "tuple": (1, 2)}),
]


@pytest.mark.parametrize("case", CASES)
def test_success_bytes_equal_the_whole_envelope(case):
    written = envelope.success(**case)
    assert written == envelope.dumps(envelope.build(**case))
    reply = json.loads(written)
    assert reply["meta"]["result_code"] == 200 and reply["meta"]["trx"] == (case["trx"] or case["call_id"])


def test_values_json_has_no_form_for():
    """NaN and the infinities are sent as null, an integer past 64 bits as it is; a type JSON has no form
    for, outside a listing, raises."""
    reply = {"call_id": "e" * 32, "trx": "t", "endpoint": "e.f", "requested": (2, 1), "actual": (2, 1)}
    written = envelope.success(**reply, data={"value": float("inf"), "nan": float("nan"), "low": float("-inf")})
    assert json.loads(written)["data"] == {"value": None, "nan": None, "low": None}
    assert json.loads(envelope.success(**reply, data={"big": 2 ** 70}))["data"] == {"big": 2 ** 70}
    with pytest.raises(TypeError):
        envelope.success(call_id="e" * 32, trx="t", endpoint="e.f", requested=(2, 1), actual=(2, 1),
                         data={"value": object()})


def test_the_text_is_the_standard_librarys_json():
    """The same values the standard library's encoder gives, in UTF-8: dates with their offset (naive ones
    read as UTC), sets and tuples as lists, bytes as text, non-string keys as strings."""
    value = {"when": datetime(2026, 1, 2, 3, 4, 5, 6000, tzinfo=timezone.utc), "naive": datetime(2020, 1, 1),
             "day": date(2020, 1, 2), "set": {"s"}, "tuple": (1, 2), "bytes": b"\xff", 1: "int key",
             "text": 'ünï ☃ " \\ \n', "float": 0.1, "neg": -0.0, "none": None}
    written = envelope.dumps(value)
    assert json.loads(written) == json.loads(json.dumps(value, default=_stdlib_default))
    assert written == json.dumps(value, default=_stdlib_default, ensure_ascii=False, separators=(",", ":")).encode()


def _stdlib_default(value):
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (set, tuple)):
        return list(value)
    return value.decode("utf-8", "replace")
