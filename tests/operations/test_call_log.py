"""The call log in its text form, and an unhandled error: its stack written once, in its call's line."""

from __future__ import annotations

import logging

import pytest

from server.http import call_log
from tests.helpers import call_log_in


@pytest.fixture
def call_log_file(tmp_path):
    with call_log_in(tmp_path, "text") as path:
        yield path


def test_text_lines_carry_the_fields(client, call_log_file):
    reply = client.call("server.info")
    line = call_log_file.read_text().splitlines()[-1]
    assert f'trx="{reply.headers["X-Trx"]}"' in line and 'endpoint="server.info"' in line
    assert "status=200" in line and "db_ms=" in line and "bytes_out=" in line


def test_an_unhandled_errors_stack_is_written_once(client, call_log_file, caplog):
    handlers = client.app.modelreg_state.handlers
    served = handlers["debug.ping"]

    def broken(call):
        raise RuntimeError("a fault planted by the test")

    handlers["debug.ping"] = broken  # the app's own table, put back below
    try:
        with caplog.at_level(logging.ERROR, logger="modelreg.failures"):
            reply = client.call("debug.ping")
    finally:
        handlers["debug.ping"] = served
    assert reply.status_code == 500
    lines = [line for line in call_log_file.read_text().splitlines() if reply.headers["X-Trx"] in line]
    assert len(lines) == 1 and "Traceback" in lines[0] and "a fault planted by the test" in lines[0]
    errors = [r for r in caplog.records if r.name != call_log.CALLS.name]
    assert errors and not [r for r in errors if r.exc_info]  # not a second time in the error log
    assert any(reply.headers["X-Trx"] in r.getMessage() for r in errors)
