"""The server's one JSON encoder (server/http/json_text.py): what orjson refuses goes through the standard
library's encoder with the same rules, and log lines write what JSON has no form for as text."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from server.http import json_text


def test_what_orjson_refuses_is_written_by_the_fallback():
    deep: list = []
    for _ in range(300):  # past orjson's nesting limit, within the interpreter's
        deep = [deep]
    value = {"big": 2 ** 70, "deep": deep, "text": "caf\u00e9"}
    assert json.loads(json_text.encode(value)) == value
    assert json_text.encode({"big": -(2 ** 64)}) == b'{"big":-18446744073709551616}'


def test_a_value_json_has_no_form_for_raises_in_a_reply_and_is_text_in_a_log_line():
    with pytest.raises(json_text.UNENCODABLE):
        json_text.encode({"amount": Decimal("1.5")})
    assert json.loads(json_text.encode_any({"amount": Decimal("1.5"), "big": 2 ** 70})) == {"amount": "1.5",
                                                                                          "big": 2 ** 70}
