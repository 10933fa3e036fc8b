"""Connections a process keeps open between its outbound requests to the same host (HTTP keep-alive), for
the outbound client (services/shared/outbound.py). The webhook delivery processes use them: a burst of
deliveries to one receiver then costs one TCP connection (and one TLS handshake), not one per delivery.

The address guard is not weakened: every request's URL is still resolved and checked, and a kept
connection is used only when its peer is one of the addresses that check allowed. A connection is kept
only after an answer read to its end that did not ask to close; it is dropped when idle past
`idle_sec` (below the idle timeouts receivers commonly use), when the peer has closed it or sent bytes
no request asked for (both make it readable), and past `per_host` idle ones per host.
"""

from __future__ import annotations

import select
import threading
import time


def _peer(sock) -> tuple | None:
    try:
        return tuple(sock.getpeername()[:2])
    except OSError:
        return None


def _still_open(sock) -> bool:
    """An idle connection is readable only when the peer closed it (or sent what no request asked for)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


class KeptConnections:
    """Idle connections by (scheme, host, port); each is handed to one request at a time."""

    def __init__(self, idle_sec: float = 4.0, per_host: int = 4):
        self.idle_sec = idle_sec
        self.per_host = per_host
        self._idle: dict[tuple, list[tuple[object, tuple, float]]] = {}
        self._lock = threading.Lock()

    def take(self, key: tuple, addresses) -> object | None:
        """An idle connection of `key` to one of `addresses` ((family, socket address) pairs, as the
        guard allowed them), or None."""
        allowed = {tuple(sockaddr[:2]) for _, sockaddr in addresses}
        with self._lock:
            self._sweep(time.monotonic())
            idle = self._idle.get(key, [])
            while idle:
                sock, peer, _ = idle.pop()  # the most recently used first: the likeliest to be open
                if peer in allowed and _still_open(sock):
                    return sock
                sock.close()
        return None

    def give(self, key: tuple, sock) -> None:
        """Keeps `sock` (its answer read to the end) for the next request to `key`."""
        peer = _peer(sock)
        if self.idle_sec <= 0 or peer is None:
            sock.close()
            return
        now = time.monotonic()
        with self._lock:
            self._sweep(now)
            idle = self._idle.setdefault(key, [])
            idle.append((sock, peer, now))
            while len(idle) > self.per_host:
                idle.pop(0)[0].close()

    def _sweep(self, now: float) -> None:
        """Closes what has been idle too long, of every host (a host no longer asked keeps none open)."""
        for key in list(self._idle):
            kept = []
            for item in self._idle[key]:
                if now - item[2] <= self.idle_sec:
                    kept.append(item)
                else:
                    item[0].close()
            if kept:
                self._idle[key] = kept
            else:
                del self._idle[key]

    def close(self) -> None:
        with self._lock:
            for idle in self._idle.values():
                for sock, _, _ in idle:
                    sock.close()
            self._idle.clear()
