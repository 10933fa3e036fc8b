"""A successful call's reply is written without encoding its meta each time: the bytes must stay those of
the envelope built and encoded whole, whatever the trx, versions and data hold."""

from __future__ import annotations

import json
from datetime import datetime, timezone

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
    assert written.isascii()


def test_an_unencodable_value_outside_a_listing_still_raises():
    with pytest.raises(ValueError):
        envelope.success(call_id="e" * 32, trx="t", endpoint="e.f", requested=(2, 1), actual=(2, 1),
                         data={"value": float("inf")})
