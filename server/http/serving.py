"""How gunicorn serves the app: the worker class and the settings gunicorn.conf.py hands to gunicorn.

Chosen by measurement (bench/slow_clients.py, figures in docs/performance.md, "Slow clients"): gunicorn's sync
worker serves one request per process, so two slow uploads stopped a two-worker API for the length of
the uploads. gunicorn's gthread worker keeps idle connections in a poller and gives each request a
thread of a pool (`server.threads`); a thread waiting on a slow socket costs no CPU, so JSON calls are
served beside many slow transfers. Two things are added here, on the worker's overridable methods only
(`init_process`, `enqueue_req` and the connection's `sock`; no underscored attribute of gthread is read):

- An idle timeout (`server.idle_timeout_sec`) on every client socket: gthread reads headers and bodies
  and writes replies with blocking calls without a timeout, so a client that stopped sending (or
  reading) would hold a thread for ever. With the timeout, each wait for the next bytes ends after that
  many seconds: the app answers a stalled body with 408 (server.backpressure), a stalled header or
  reply closes the connection. The timeout bounds idleness, not the length of a transfer: every send
  waits at most that long for room, however long the whole reply takes.
- The number of transfers a worker serves at once is bounded in the app (server.backpressure), below
  the thread count, so transfers never take every thread.

Spreading connections over workers evenly, buffering bodies and holding slow clients is a reverse
proxy's job in production (docs/operations.md); nothing here reaches into gunicorn's internals for it.
"""

from __future__ import annotations

import socket

from gunicorn.workers.gthread import ThreadWorker as GThreadWorker

from server.config import load_config

# gthread's main loop beats the worker's heartbeat whatever the threads do, so this only catches a
# worker whose main loop is stuck; long requests never trip it.
HEARTBEAT_TIMEOUT_SEC = 30
GRACEFUL_TIMEOUT_SEC = 20
KEPT_ALIVE_CONNECTIONS = 1000  # beyond the threads' own connections


class IdleTimeoutSocket(socket.socket):
    """A client socket whose blocking mode waits at most `idle_timeout` seconds for each read or send."""

    idle_timeout: float | None = None  # set once per worker process from the configuration

    def setblocking(self, flag: bool) -> None:
        if flag and self.idle_timeout:
            self.settimeout(self.idle_timeout)
        else:
            super().setblocking(flag)

    def sendall(self, data, flags: int = 0) -> None:
        # socket.sendall applies its timeout to the whole buffer; a slow reader of a 1 MiB chunk is not
        # idle, so wait (at most the timeout) for room again after every partial send instead.
        if not self.gettimeout():
            super().sendall(data, flags)
            return
        with memoryview(data) as whole:
            view = whole.cast("B")
            while view:
                view = view[self.send(view, flags):]


class ThreadWorker(GThreadWorker):
    """gunicorn's gthread worker with the idle timeout on every connection it hands to a thread."""

    def init_process(self) -> None:
        IdleTimeoutSocket.idle_timeout = float(load_config().get("server.idle_timeout_sec")) or None
        super().init_process()  # loads the app, then runs the main loop until the worker stops

    def enqueue_req(self, conn) -> None:
        if not isinstance(conn.sock, IdleTimeoutSocket):  # freshly accepted: adopt its descriptor
            raw = conn.sock
            conn.sock = IdleTimeoutSocket(raw.family, raw.type, raw.proto, fileno=raw.detach())
        super().enqueue_req(conn)


def gunicorn_settings(config=None) -> dict:
    """gunicorn settings from the modelreg configuration (gunicorn.conf.py exposes them to gunicorn;
    command-line options still win over them)."""
    config = config if config is not None else load_config()
    threads = int(config.get("server.threads"))
    return {
        "worker_class": "server.http.serving.ThreadWorker",
        "workers": int(config.get("server.workers")),
        "threads": threads,
        "worker_connections": threads + KEPT_ALIVE_CONNECTIONS,
        "keepalive": int(config.get("server.keepalive_sec")),
        "timeout": HEARTBEAT_TIMEOUT_SEC,
        "graceful_timeout": GRACEFUL_TIMEOUT_SEC,
    }
