"""Slow and stalled clients against a real gunicorn (2 workers, the serving model of server/http/serving.py):
they cannot take the API hostage, a stalled body is dropped after the idle timeout, chunked bodies are
read, and transfers beyond the bound are answered 503 with Retry-After instead of waiting."""

from __future__ import annotations

import base64
import json
import select
import socket
import threading
import time

import pytest
import requests

from tests.live_support import start_live_server

IDLE_TIMEOUT = 5
SLOW_SENDERS = 8  # more than the two workers: with one request per worker, a ping would wait behind them
GUARD = 60  # seconds a socket read may take before the test fails: a hang, not a speed measurement
PING_GUARD = 15  # a ping queued behind the slow senders would wait for them (~40 s)


@pytest.fixture(scope="module")
def server(mongo_uri, s3, tmp_path_factory):
    live = start_live_server(mongo_uri, tmp_path_factory.mktemp("gunicorn"), {
        "MODELREG_S3_ENDPOINT": s3.endpoint,
        "MODELREG_S3_ACCESS_KEY": s3.access_key,
        "MODELREG_S3_SECRET_KEY": s3.secret_key,
        "MODELREG_S3_BUCKET": s3.bucket,
        "MODELREG_SERVER_IDLE_TIMEOUT_SEC": str(IDLE_TIMEOUT),
        "MODELREG_SERVER_MAX_TRANSFERS": "1",
    })
    yield live
    live.stop()


def auth_header(server) -> str:
    return "Basic " + base64.b64encode(f"{server.access_key}:{server.secret_key}".encode()).decode()


def open_request(server, path: str, length: int, content_type: str = "application/json",
                 extra: str = "") -> socket.socket:
    """A connection that has sent the request line and headers of a body of `length` bytes, no body yet."""
    port = int(server.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=GUARD)
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth_header(server)}\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {length}\r\n{extra}\r\n")
    sock.sendall(head.encode())
    return sock


def read_replies(sock: socket.socket, count: int) -> list[tuple[int, dict, dict]]:
    """Status, headers (lower-case names) and JSON body of each of the next `count` replies, which may
    arrive in one segment; the socket stays open."""
    data, replies = b"", []
    while len(replies) < count:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed before a reply: {data!r}"
            data += chunk
        head, _, data = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        while len(data) < length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed inside the reply body"
            data += chunk
        body, data = data[:length], data[length:]
        replies.append((int(lines[0].split()[1]), headers, json.loads(body) if length else {}))
    return replies


def read_reply(sock: socket.socket) -> tuple[int, dict, dict]:
    return read_replies(sock, 1)[0]


def wait_readable(socks, expected: int, within: float) -> list[socket.socket]:
    """The sockets with something to read once `expected` of them have, or after `within` seconds."""
    deadline = time.monotonic() + within
    ready: list[socket.socket] = []
    while len(ready) < expected and time.monotonic() < deadline:
        ready, _, _ = select.select(socks, [], [], max(0.0, min(0.2, deadline - time.monotonic())))
    return ready


def ping(server, guard: float = GUARD) -> dict:
    reply = requests.post(server.url + "/debug.ping", json={}, timeout=guard)
    assert reply.status_code == 200, reply.text
    return reply.json()


def test_slow_senders_do_not_block_a_concurrent_ping(server):
    # ~40 s of trickling each: far longer than the ping may wait
    bodies = [json.dumps({"name": f"slow {n}", "uri": f"s3://bucket/slow-{n}", "comment": "." * 150}).encode()
              for n in range(SLOW_SENDERS)]
    socks = [open_request(server, "/api/v2.13/models.create", len(body)) for body in bodies]
    done = threading.Event()
    sent = [0] * SLOW_SENDERS

    def trickle(number):  # one byte a few times a second: slow, never idle for the timeout
        sock, body = socks[number], bodies[number]
        while sent[number] < len(body) - 1 and not done.is_set():
            sock.sendall(body[sent[number]:sent[number] + 1])
            sent[number] += 1
            time.sleep(0.2)

    threads = [threading.Thread(target=trickle, args=(n,), daemon=True) for n in range(SLOW_SENDERS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(1)  # every slow request is under way (headers and part of the body read)
        for _ in range(3):
            assert ping(server, guard=PING_GUARD)["meta"]["result_code"] == 200
        assert all(thread.is_alive() for thread in threads), "the slow senders were supposed to still be sending"
    finally:
        done.set()
        for thread in threads:
            thread.join()
    for sock, body, count in zip(socks, bodies, sent, strict=True):
        sock.sendall(body[count:])
    names = set()
    for sock in socks:
        status, _, reply = read_reply(sock)
        assert status == 200, reply
        names.add(reply["data"]["id"])
        sock.close()
    assert len(names) == SLOW_SENDERS


def test_a_stalled_body_is_answered_408_after_the_idle_timeout_and_the_worker_serves_on(server):
    stalled = open_request(server, "/api/v2.13/models.create", 100)
    stalled.sendall(b'{"name": "never fin')  # then nothing, socket left open
    status, _, reply = read_reply(stalled)
    assert status == 408 and reply["meta"]["result_code"] == 408, reply
    assert reply["meta"]["endpoint"]["name"] == "models.create"
    assert stalled.recv(1) == b""  # and the connection is closed, not kept for another request
    stalled.close()
    for _ in range(4):  # both workers, whichever took the stalled one
        ping(server)
    found = requests.post(server.url + "/api/v2.13/models.get_all", json={"name": "never fin"},
                          auth=(server.access_key, server.secret_key), timeout=GUARD).json()
    assert found["data"]["models"] == []


def test_stalled_headers_are_dropped_after_the_idle_timeout(server):
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=GUARD) as sock:
        sock.sendall(b"POST /debug.ping HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # the headers never end
        assert sock.recv(1024) == b""
    ping(server)


def test_a_chunked_json_body_is_read(server):
    body = json.dumps({"name": "chunked model", "uri": "s3://bucket/chunked"}).encode()

    def pieces():
        for start in range(0, len(body), 7):
            yield body[start:start + 7]

    reply = requests.post(server.url + "/api/v2.13/models.create", data=pieces(),
                          auth=(server.access_key, server.secret_key), timeout=GUARD,
                          headers={"Content-Type": "application/json"})
    assert reply.request.headers.get("Transfer-Encoding") == "chunked"
    assert reply.status_code == 200, reply.text
    model_id = reply.json()["data"]["id"]
    got = requests.post(server.url + "/api/v2.13/models.get_by_id", json={"model": model_id},
                        auth=(server.access_key, server.secret_key), timeout=GUARD).json()
    assert got["data"]["model"]["name"] == "chunked model"


def test_a_chunked_body_over_the_limit_is_refused(server):
    def pieces():
        block = b" " * (1024 * 1024)
        for _ in range(17):  # 17 MiB of JSON whitespace, over server.max_json_body (16 MiB)
            yield block
        yield b"{}"

    reply = requests.post(server.url + "/api/v2.13/debug.ping", data=pieces(), timeout=GUARD,
                          headers={"Content-Type": "application/json"})
    assert reply.status_code == 413, reply.text


@pytest.mark.parametrize("path, content_type, body", [
    ("/api/v2.13/models.create", "application/json", b"zz\r\n{}\r\n0\r\n\r\n"),  # not a chunk size
    ("/api/v2.13/models.create", "application/json", b"2\r\n{}XX0\r\n\r\n"),  # no CRLF after the chunk
    ("/files/bad-chunk.bin", "multipart/form-data; boundary=b", b"zz\r\n--b\r\n0\r\n\r\n"),
])
def test_a_malformed_chunked_body_is_a_400_and_the_server_serves_on(server, path, content_type, body):
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=GUARD) as sock:
        sock.sendall((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {auth_header(server)}\r\n"
                      f"Content-Type: {content_type}\r\nTransfer-Encoding: chunked\r\n\r\n").encode() + body)
        status, _, reply = read_reply(sock)
    assert status == 400 and reply["meta"]["result_code"] == 400, reply
    assert "malformed" in reply["meta"]["result_msg"]
    ping(server, PING_GUARD)


@pytest.mark.parametrize("route", ["files", "rpc"])
def test_transfers_beyond_the_bound_get_503_with_retry_after(server, route):
    """Each worker serves one transfer at a time (max_transfers 1): of four uploads in flight at once,
    at most two are under way, the others are answered 503 without waiting. /files and models.upload
    share the bound."""
    size = 1024 * 1024
    if route == "files":
        boundary = "robustboundary"
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"/bound/file.bin\"; filename=\"file.bin\"\r\n"
                "Content-Type: application/octet-stream\r\n\r\n").encode()
        socks = [open_request(server, "/files", len(head) + size + len(f"\r\n--{boundary}--\r\n"),
                              content_type=f"multipart/form-data; boundary={boundary}") for _ in range(4)]
    else:
        head = b""
        model_id = requests.post(server.url + "/api/v2.13/models.create", json={"name": "bound", "uri": "s3://b/k"},
                                 auth=(server.access_key, server.secret_key), timeout=GUARD).json()["data"]["id"]
        socks = [open_request(server, f"/api/v2.13/models.upload?model={model_id}", size,
                              content_type="application/octet-stream") for _ in range(4)]
    for sock in socks:
        sock.sendall(head + b"x" * 1000)  # under way; the rest never comes while the test looks
    # The refusals come at once; a transfer under way answers nothing until the idle timeout (408).
    answered = wait_readable(socks, expected=2, within=IDLE_TIMEOUT - 1)
    refused = [read_reply(sock) for sock in answered]
    assert len(refused) >= 2
    for status, headers, reply in refused:
        assert status == 503 and reply["meta"]["result_code"] == 503, reply
        assert headers["retry-after"].isdigit()
        assert "transfers" in reply["meta"]["result_msg"]
    for sock in socks:
        sock.close()
    ping(server)


# ---- keep-alive connections ---------------------------------------------------

PING = (b"POST /debug.ping HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 2\r\n\r\n{}")


def test_requests_sent_together_on_one_connection_are_all_answered_in_order(server):
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=GUARD) as sock:
        create = json.dumps({"name": "pipelined", "uri": "s3://bucket/pipelined"}).encode()
        sock.sendall(PING + (f"POST /api/v2.13/models.create HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                             f"Authorization: {auth_header(server)}\r\nContent-Type: application/json\r\n"
                             f"Content-Length: {len(create)}\r\n\r\n").encode() + create + PING)
        replies = read_replies(sock, 3)  # the three replies may come in one segment
    assert [status for status, _, _ in replies] == [200, 200, 200]
    assert replies[1][2]["meta"]["endpoint"]["name"] == "models.create" and replies[1][2]["data"]["id"]
    assert replies[2][2]["meta"]["endpoint"]["name"] == "debug.ping"


def test_a_keep_alive_connection_with_pauses_between_requests_stays_open(server):
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=GUARD) as sock:
        for pause in (0, 0.001, 0.05, 0.5, 0):  # back to back, and after pauses in the poller
            time.sleep(pause)
            sock.sendall(PING)
            status, headers, _ = read_reply(sock)
            assert status == 200 and headers.get("connection", "").lower() != "close"


@pytest.mark.parametrize("route", ["rpc", "files"])
def test_a_refusal_before_the_body_is_read_reaches_a_client_that_sends_it_whole(server, route):
    """http.client (as requests and the ClearML SDK) reads the answer only once it has sent the whole
    body; the rest of a refused call's body is read and dropped, so the answer reaches it instead of a
    broken pipe."""
    import http.client

    port = int(server.url.rsplit(":", 1)[1])
    body = b"x" * (8 * 1024 * 1024)
    for authorization in (auth_header(server), "Basic " + base64.b64encode(b"nokey:nosecret").decode()):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=GUARD)
        if route == "rpc":  # no such upload session: refused before its part is read
            path, method = "/api/v2.99/uploads.put_part?upload=nosuch&part=1", "PUT"
            content_type = "application/octet-stream"
        else:
            path, method, content_type = "/files/refused/w.bin", "POST", "multipart/form-data; boundary=b"
        connection.request(method, path, body=body, headers={"Authorization": authorization,
                                                            "Content-Type": content_type})
        reply = connection.getresponse()
        answer = json.loads(reply.read())
        assert reply.status in (400, 401) and answer["meta"]["result_code"] == reply.status, answer
        connection.close()
