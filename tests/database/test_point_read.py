"""Reads by `_id` as one `find` command (database/collections/point_read.py): the same answers as `find_one`, and a
pooled connection cut since the last read is replaced and the read asked again, as the driver's
retryable reads do."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from datetime import datetime, timezone

import pymongo

from database import connection
from database.collections import point_read


def test_answers_as_find_one_does(db):
    when = datetime(2026, 5, 1, 12, 30, tzinfo=timezone.utc)
    db["things"].insert_many([{"_id": "a", "name": "first", "created": when, "deep": {"x": 1, "y": [1, 2]}},
                              {"_id": "b", "name": "second"}])
    for projection in (None, {"name": 1}, {"deep": 0}, {"deep.y": 1}, {"_id": 0, "name": 1}):
        assert point_read.find_by_id(db["things"], "a", projection) == db["things"].find_one({"_id": "a"}, projection)
    doc = point_read.find_by_id(db["things"], "a")
    assert doc["created"] == when and doc["created"].tzinfo is not None  # the client's codec options
    assert point_read.find_by_id(db["things"], "missing") is None
    assert point_read.find_by_id(db["things"], {"$ne": None}) is None  # an operator is no id here


class CuttingProxy:
    """A TCP forwarder to the database whose connections opened after `mark()` the test can cut, as a
    restarted proxy or a failover cuts a pooled connection while the driver's monitor keeps its own."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        self.marked = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.pairs.append((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def mark(self) -> None:
        self.marked = len(self.pairs)

    def cut(self) -> int:
        cut = self.pairs[self.marked:]
        for pair in cut:
            for end in pair:
                with contextlib.suppress(OSError):  # already closed from its other end
                    end.shutdown(socket.SHUT_RDWR)
        return len(cut)

    def close(self) -> None:
        self.listener.close()


def test_a_pooled_connection_cut_since_the_last_read_is_replaced_and_the_read_asked_again(mongo_uri, db_name):
    proxy = CuttingProxy(int(mongo_uri.rstrip("/").rsplit(":", 1)[1]))
    db = connection.connect(f"mongodb://127.0.0.1:{proxy.port}/?directConnection=true", db_name,
                            operation_timeout_ms=10000)
    try:
        time.sleep(1)  # the driver's monitors have their connections; no operation has opened one yet
        proxy.mark()
        db["things"].insert_one({"_id": "kept", "name": "survivor"})  # a pooled connection, opened after the mark
        assert proxy.cut() >= 1
        with pymongo.timeout(10):
            assert point_read.find_by_id(db["things"], "kept")["name"] == "survivor"
    finally:
        db.client.close()
        proxy.close()
        with pymongo.MongoClient(mongo_uri) as direct:
            direct.drop_database(db_name)
