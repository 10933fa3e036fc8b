"""records.get_all with `Accept: application/x-ndjson`: every match streamed one record a line, past the
page cap, byte-exact with the envelope's rendering, meta in headers; a client going away closes the cursor."""

from __future__ import annotations

import io
import json
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from server.http.app import build_state, create_app
from server.http.backpressure import ClosingStream
from server.http.dispatcher import Dispatcher
from tests.helpers import COMPANY_A, COMPANY_B, app_with, codes, make_user

V = "2.99"
PAGE = 5  # the page cap of this app
NDJSON = {"Accept": "application/x-ndjson"}


@pytest.fixture
def small_pages(app_config, registry, db):
    app_config.put("query.max_page_size", PAGE)
    application = create_app(app_config, build_state(app_config, registry))
    yield application
    application.modelreg_state.stores.db.client.close()


@pytest.fixture
def alice(small_pages):
    return make_user(small_pages, "alice", COMPANY_A, role="admin")


@pytest.fixture
def model(alice):
    return alice.ok("models.create", {"name": "field model", "uri": "file:///tmp/m.pt"}, version="2.13")["id"]


def stream(client, request: dict, headers=NDJSON):
    return client.raw(f"/v{V}/records.get_all", body=request, headers=headers)


def all_pages(client, request: dict) -> list[dict]:
    out, scroll = [], ""
    while True:
        reply = client.ok("records.get_all", {**request, "scroll_id": scroll, "size": PAGE}, version=V)
        if not reply["records"]:
            return out
        out += reply["records"]
        scroll = reply["scroll_id"]


def test_streams_every_match_past_the_page_cap_byte_exact(alice, model):
    for i in range(PAGE * 2 + 3):
        alice.ok("records.add", {"model": model, "timestamp": f"2024-05-01T00:{i:02d}:00Z", "site": f"s{i % 2}",
                                 "data": {"i": i, "text": "h\u00e9llo \u2603", "nested": [None, True, 1.5]}},
                 version=V)
    assert len(alice.ok("records.get_all", {}, version=V)["records"]) == PAGE  # the envelope is capped

    result = stream(alice, {"model": [model]})
    assert result.status_code == 200
    assert result.headers["content-type"] == "application/x-ndjson"
    assert result.headers["x-clearml-endpoint"] == "records.get_all"
    assert result.headers["x-result-code"] == "200" and result.headers["x-clearml-actual-version"] == V
    lines = result.content.split(b"\n")
    assert lines[-1] == b""  # every line, the last too, ends with \n
    expected = [json.dumps(r, separators=(",", ":"), ensure_ascii=False).encode() for r in all_pages(alice, {})]
    assert len(expected) == PAGE * 2 + 3
    assert lines[:-1] == expected
    assert "h\u00e9llo \u2603".encode() in lines[0]  # UTF-8, as JSON is sent

    filtered = stream(alice, {"site": "s1", "order_by": ["-timestamp"]}).content.splitlines()
    assert [json.loads(line)["data"]["i"] for line in filtered] == [11, 9, 7, 5, 3, 1]


def test_no_match_is_an_empty_body_and_errors_are_envelopes(alice, model):
    result = stream(alice, {"site": "nowhere"})
    assert result.status_code == 200 and result.content == b""
    bad = stream(alice, {"start_timestamp": "whenever"})
    assert bad.status_code == 400 and bad.json["meta"]["result_subcode"] == 12
    assert codes(alice.error("records.get_all", {"order_by": ["nosuch"]}, version=V)) == (400, 14)
    # without the Accept header: the envelope
    assert stream(alice, {}, headers={}).json["meta"]["result_code"] == 200


def test_other_company_streams_nothing(alice, small_pages, model):
    alice.ok("records.add", {"model": model}, version=V)
    bob = make_user(small_pages, "bob", "company_b_" + "0" * 22)
    assert stream(bob, {}).content == b""
    assert stream(bob, {"model": [model]}).content == b""


def test_a_client_going_away_closes_the_cursor(alice, small_pages, model, db):
    when = datetime(2024, 1, 1, tzinfo=timezone.utc)
    db["records"].insert_many([
        {"_id": uuid.uuid4().hex, "company": COMPANY_A, "user": "u", "model": model, "data": {"i": i},
         "timestamp": when + timedelta(seconds=i)} for i in range(6000)])  # more than the stream reads ahead
    body = json.dumps({"model": [model]}).encode()
    headers = {"AUTHORIZATION": alice.authorization, "ACCEPT": "application/x-ndjson",
               "CONTENT-TYPE": "application/json"}
    outcome = Dispatcher(small_pages.modelreg_state).dispatch(
        "POST", f"/v{V}/records.get_all", "", headers, {}, io.BytesIO(body), len(body))
    cursor = outcome.stream.close.first.__self__.cursor  # the database cursor the stream reads
    body_iter = ClosingStream(outcome.stream.chunks, outcome.stream.close)  # what the WSGI server iterates
    first = next(body_iter)
    cursor_id = cursor.cursor_id
    assert first.count(b"\n") == 500 and cursor_id
    body_iter.close()  # the WSGI server closes the body when the client is gone
    # the server-side cursor is gone: killing it again finds nothing
    reply = db.command("killCursors", "records", cursors=[cursor_id])
    assert cursor_id not in reply.get("cursorsKilled", []) and cursor_id in reply.get("cursorsNotFound", [])


@pytest.fixture
def one_transfer(app_config, registry, db):
    with app_with(app_config, registry, {"server.max_transfers": 1}) as application:
        yield application


def test_a_stream_is_a_transfer_bounded_by_the_transfer_slots(one_transfer):
    """An NDJSON reply lasts as long as the matches and the client take: it is served as a transfer (no
    call deadline, only a per-operation one) and takes one of the worker's transfer slots."""
    alice = make_user(one_transfer, "alice", COMPANY_A, role="admin")
    model = alice.ok("models.create", {"name": "field model", "uri": "file:///tmp/m.pt"}, version="2.13")["id"]
    alice.ok("records.add", {"model": model, "timestamp": "2024-01-01T00:00:00Z", "data": {}}, version=V)
    release = one_transfer.modelreg_state.transfers.acquire()  # another transfer holds the only slot
    try:
        busy = stream(alice, {"model": [model]})
        assert busy.status_code == 503 and "NDJSON" in busy.json["meta"]["result_msg"]
        # the envelope form is an ordinary call
        assert len(alice.ok("records.get_all", {"model": [model]}, version=V)["records"]) == 1
    finally:
        release()
    assert stream(alice, {"model": [model]}).text.count("\n") == 1


@pytest.fixture
def shared_transfers(app_config, registry, db):
    with app_with(app_config, registry, {"server.max_transfers": 3, "server.max_transfers_per_company": 2}) as app:
        yield app


def test_one_company_holds_at_most_its_share_of_the_transfer_slots(shared_transfers):
    """One company's long transfers leave slots for the others: past its share, its next transfer is a
    503 while another company's still runs."""
    clients = {c: make_user(shared_transfers, f"admin-{c}", c, role="admin") for c in (COMPANY_A, COMPANY_B)}
    models = {}
    for company, client in clients.items():
        made = client.ok("models.create", {"name": "shared", "uri": "file:///tmp/m.pt"}, version="2.13")
        models[company] = made["id"]
        client.ok("records.add", {"model": models[company], "data": {}}, version=V)
    slots = shared_transfers.modelreg_state.transfers
    held = [slots.acquire(COMPANY_A), slots.acquire(COMPANY_A)]  # two of A's transfers in flight
    try:
        busy = stream(clients[COMPANY_A], {"model": [models[COMPANY_A]]})
        assert busy.status_code == 503 and "share" in busy.json["meta"]["result_msg"], busy.text
        assert busy.headers["retry-after"]
        assert stream(clients[COMPANY_B], {"model": [models[COMPANY_B]]}).text.count("\n") == 1
    finally:
        held.pop()()
    assert stream(clients[COMPANY_A], {"model": [models[COMPANY_A]]}).text.count("\n") == 1
    held.pop()()
    again = [slots.acquire(COMPANY_A), slots.acquire(COMPANY_A)]  # every slot given back, the share too
    for release in again:
        release()
