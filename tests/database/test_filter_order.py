"""The clause order of a listing's filter is an embedded-server workaround (database/query/shape.py): each
collection declares its ranking in its QuerySpec, and the order is applied only when the database is the
embedded server. MongoDB plans from its indexes, so there the filter goes as built. A server that is not
the embedded one is had here by relaying the embedded server's wire protocol with its own mark
(`secantusVersion` in buildInfo) taken out of the replies."""

from __future__ import annotations

import socket
import struct
import threading

import bson
import pytest

from database import connection
from database.collections import models_db, records_db
from database.query import shape

C = "c1"
OP_MSG = 2013
PARTS = [{"company": {"$in": [C, ""]}}, {"system_tags": {"$nin": ["archived"]}}, {"tags": {"$in": ["a"]}},
         {"ready": True}, {"project": {"$in": ["p1"]}}]
# MongoDB 7.0's buildInfo reply, as far as it matters here
MONGODB_BUILD_INFO = {"version": "7.0.12", "gitVersion": "b6513ce0781db6818e24619e8a461eae90bc94fc",
                      "versionArray": [7, 0, 12, 0], "bits": 64, "maxBsonObjectSize": 16777216, "ok": 1.0}


def test_the_ranking_is_each_collections_own():
    ranked = shape.flatten(PARTS, models_db.SPEC.narrow_first, models_db.SPEC.wide_last)
    assert list(ranked) == ["project", "tags", "ready", "system_tags", "company"]
    as_built = shape.flatten(PARTS, models_db.SPEC.narrow_first, models_db.SPEC.wide_last, reorder=False)
    assert list(as_built) == ["company", "system_tags", "tags", "ready", "project"]
    assert as_built == ranked  # the same clauses, merged and simplified alike


def test_mongodb_is_not_taken_for_the_embedded_server():
    assert not connection.embedded_build(MONGODB_BUILD_INFO)
    assert connection.embedded_build({**MONGODB_BUILD_INFO, "version": "8.2.11", "secantusVersion": "0.7.0b3"})


def _strip_mark(message: bytes) -> bytes:
    """An OP_MSG reply without the embedded server's mark in its body; other messages unchanged."""
    length, request_id, response_to, opcode = struct.unpack("<iiii", message[:16])
    if opcode != OP_MSG or message[20] != 0:
        return message
    body_length = struct.unpack("<i", message[21:25])[0]
    body = bson.decode(message[21:21 + body_length])
    if "secantusVersion" not in body:
        return message
    body.pop("secantusVersion")
    rest = message[21 + body_length:]
    payload = message[16:21] + bson.encode(body) + rest
    return struct.pack("<iiii", 16 + len(payload), request_id, response_to, opcode) + payload


def _read_message(sock: socket.socket) -> bytes | None:
    header = b""
    while len(header) < 4:
        chunk = sock.recv(4 - len(header))
        if not chunk:
            return None
        header += chunk
    length = struct.unpack("<i", header)[0]
    data = header
    while len(data) < length:
        chunk = sock.recv(length - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class Relay:
    """A TCP relay on 127.0.0.1 to the embedded server that hides the server's mark from buildInfo."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            self.sockets += [client, server]
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket, replies: bool) -> None:
        try:
            while (message := _read_message(source)) is not None:
                target.sendall(_strip_mark(message) if replies else message)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                sock.close()

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def not_embedded(db, mongo_uri, db_name):
    """`db` as seen through a server that does not say it is the embedded one."""
    if not connection.is_embedded(db):
        yield db  # a real MongoDB already
        return
    host, port = db.client.address
    relay = Relay((host, port))
    seen = connection.connect(f"mongodb://127.0.0.1:{relay.port}/?directConnection=true", db_name)
    yield seen
    seen.client.close()
    relay.close()


def test_the_reordering_is_skipped_when_the_database_is_not_the_embedded_one(db, not_embedded):
    assert not connection.is_embedded(not_embedded)
    assert list(shape.match(not_embedded, models_db.SPEC, PARTS)) == ["company", "system_tags", "tags", "ready",
                                                                       "project"]
    stream = records_db.Records(not_embedded, C).stream_filter({"model": ["m1"], "season": ["q3"], "site": "s3"})
    assert list(stream) == ["model", "season", "site", "company"]
    # a listing through the query engine finds the same documents either way
    db["models"].insert_many([{"_id": f"m{n}", "company": C, "name": f"model-{n}", "project": "p1",
                               "tags": ["a"] if n % 2 else [], "system_tags": [], "ready": True} for n in range(6)])
    request = {"name": "-[135]$", "ready": True, "order_by": ["name"]}
    seen, direct = models_db.Models(not_embedded, C).find_page(request), models_db.Models(db, C).find_page(request)
    assert [d["id"] for d in seen[0]] == [d["id"] for d in direct[0]] == ["m1", "m3", "m5"]

