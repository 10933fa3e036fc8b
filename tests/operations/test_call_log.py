"""The call log in its text form, an unhandled error (its stack written once, in its call's line), and a
rotated file (logrotate moving or removing it) followed by the next lines."""

from __future__ import annotations

import json
import logging
import threading
import time

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
    errors = caplog.records  # the call's line goes to its file, not through logging
    assert errors and not [r for r in errors if r.exc_info]  # not a second time in the error log
    assert any(reply.headers["X-Trx"] in r.getMessage() for r in errors)


def test_lines_follow_a_rotated_file(tmp_path):
    path = tmp_path / "calls.log"
    target = call_log.LineFile(path, check_sec=0)  # checks the path before every line
    try:
        target.write(b"first\n")
        path.rename(tmp_path / "calls.log.1")
        target.write(b"second\n")
        path.unlink()  # removed outright: a new file is made
        target.write(b"third\n")
    finally:
        target.close()
    assert (tmp_path / "calls.log.1").read_text() == "first\n"
    assert path.read_text() == "third\n"


def test_a_served_call_after_rotation_goes_to_the_new_file(client, tmp_path):
    with call_log_in(tmp_path, "json") as path:
        first = client.call("server.info").headers["X-Trx"]
        path.rename(path.with_name("calls.log.1"))
        time.sleep(call_log.CHECK_SEC + 0.1)  # the path is looked at once a second
        second = client.call("server.info").headers["X-Trx"]
        moved = [json.loads(line) for line in path.with_name("calls.log.1").read_text().splitlines()]
        fresh = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["trx"] for line in moved] == [first]
    assert [line["trx"] for line in fresh] == [second] and fresh[0]["endpoint"] == "server.info"


def test_lines_of_many_threads_stay_whole(tmp_path):
    target = call_log.LineFile(tmp_path / "calls.log")
    lines = call_log.CallLines(target, "json")
    fields = {"trx": "t", "endpoint": "x.y", "status": 200, "padding": "p" * 3000}

    def writer(number):
        for item in range(200):
            lines.write({**fields, "trx": f"{number}-{item}"})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    target.close()
    written = [json.loads(line) for line in (tmp_path / "calls.log").read_text().splitlines()]
    assert sorted(line["trx"] for line in written) == sorted(f"{n}-{i}" for n in range(4) for i in range(200))


def test_json_line_fields_and_a_server_error_level(tmp_path):
    lines = call_log.CallLines(call_log.LineFile(tmp_path / "calls.log"), "json")
    try:
        raise ValueError("planted")
    except ValueError as exc:
        error = exc
    line = json.loads(lines.line({"trx": "a", "status": 500}, error, now=1_700_000_000.0421))
    lines.target.close()
    assert line["time"] == "2023-11-14T22:13:20.042Z" and line["level"] == "error"
    assert list(line)[:4] == ["time", "level", "pid", "trx"]
    assert line["stack"].startswith("Traceback") and line["stack"].endswith("ValueError: planted")
