"""Connections kept open between outbound requests (services/shared/kept_connections.py), as the delivery
processes use them: reused for the next request to the same host, and never past the address guard, an
idle limit, the peer closing them, or a bound per host. Real sockets on 127.0.0.1."""

from __future__ import annotations

import socket
import time

from services.shared.kept_connections import KeptConnections
from services.shared.outbound import OutboundPolicy
from tests.webhook_support import Receiver, post

LOCAL = OutboundPolicy(allow_private_networks=True, total_timeout_sec=5, max_bytes=1024)


def _pair(listener: socket.socket) -> tuple[socket.socket, socket.socket]:
    client = socket.create_connection(listener.getsockname())
    served, _ = listener.accept()
    return client, served


def _allowed(host: str, port: int) -> list[tuple[int, tuple]]:
    return [(socket.AF_INET, (host, port))]


def _post(url: str, kept: KeptConnections | None) -> int:
    return post(url, LOCAL, kept)


def test_requests_to_one_host_reuse_one_kept_connection():
    remote = Receiver(keep_alive=True)
    kept = KeptConnections(idle_sec=5)
    try:
        assert [_post(remote.url("kept"), kept) for _ in range(5)] == [200] * 5
        assert remote.connections() == 1
        assert all("close" not in (r["headers"].get("Connection") or "") for r in remote.received)
        assert [_post(remote.url("fresh"), None) for _ in range(3)] == [200] * 3
        assert remote.connections() == 4  # without kept connections, one each, and said so
        assert [r["headers"].get("Connection") for r in remote.received[5:]] == ["close"] * 3
    finally:
        kept.close()
        remote.close()


def test_kept_connections_send_small_writes_at_once():
    # http.client writes a request's head and body apart: with Nagle's algorithm on, the body of a request
    # on a kept connection would wait for the peer's delayed acknowledgement of the head
    remote = Receiver(keep_alive=True)
    kept = KeptConnections(idle_sec=5)
    try:
        _post(remote.url("x"), kept)
        sock = kept.take(("http", "127.0.0.1", remote.port), [(socket.AF_INET, ("127.0.0.1", remote.port))])
        assert sock is not None
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        sock.close()
    finally:
        kept.close()
        remote.close()


def test_a_receiver_that_closes_after_each_answer_gets_a_new_connection_each_time():
    remote = Receiver()  # HTTP/1.0: every answer ends its connection
    kept = KeptConnections(idle_sec=5)
    try:
        assert [_post(remote.url("old"), kept) for _ in range(3)] == [200] * 3
        assert remote.connections() == 3
    finally:
        kept.close()
        remote.close()


def test_a_kept_connection_goes_only_to_an_address_the_guard_allows_now():
    listener = socket.create_server(("127.0.0.1", 0))
    kept = KeptConnections(idle_sec=5)
    client, served = _pair(listener)
    try:
        port = listener.getsockname()[1]
        kept.give(("http", "receiver", port), client)
        # the host now resolves elsewhere: the open connection to the old address is not used, and closed
        assert kept.take(("http", "receiver", port), _allowed("127.0.0.2", port)) is None
        assert client.fileno() == -1
        other, served_other = _pair(listener)
        kept.give(("http", "receiver", port), other)
        assert kept.take(("http", "receiver", port), _allowed("127.0.0.1", port)) is other
        served_other.close()
        other.close()
    finally:
        served.close()
        listener.close()


def test_a_connection_idle_too_long_or_closed_by_its_peer_is_not_handed_out():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    key, allowed = ("http", "receiver", port), _allowed("127.0.0.1", port)
    kept = KeptConnections(idle_sec=0.2)
    try:
        idle, served = _pair(listener)
        kept.give(key, idle)
        time.sleep(0.3)
        assert kept.take(key, allowed) is None
        assert idle.fileno() == -1
        served.close()

        closed, served = _pair(listener)
        kept.give(key, closed)
        served.close()  # the receiver's idle timeout: its FIN arrives while the connection is kept
        time.sleep(0.05)
        assert kept.take(key, allowed) is None
        assert closed.fileno() == -1
    finally:
        kept.close()
        listener.close()


def test_idle_connections_are_bounded_per_host_and_closed_with_the_process():
    listener = socket.create_server(("127.0.0.1", 0), backlog=8)
    port = listener.getsockname()[1]
    kept = KeptConnections(idle_sec=5, per_host=2)
    pairs = [_pair(listener) for _ in range(3)]
    try:
        for client, _ in pairs:
            kept.give(("http", "receiver", port), client)
        assert pairs[0][0].fileno() == -1  # the oldest idle one made room
        assert pairs[1][0].fileno() != -1 and pairs[2][0].fileno() != -1
        kept.close()
        assert all(client.fileno() == -1 for client, _ in pairs)
    finally:
        for client, served in pairs:
            client.close()
            served.close()
        listener.close()
