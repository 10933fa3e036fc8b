"""How gunicorn serves the app: the worker class and the settings gunicorn.conf.py hands to gunicorn.

Chosen by measurement (bench/slow_clients.py, figures in the README's "Guarantees"): gunicorn's sync
worker serves one request per process, so two slow uploads stopped a two-worker API for the length of
the uploads. gunicorn's gthread worker keeps idle connections in a poller and gives each request a
thread of a pool (`server.threads`); a thread waiting on a slow socket costs no CPU, so JSON calls are
served beside many slow transfers. Four things are added here:

- An idle timeout (`server.idle_timeout_sec`) on every client socket: gthread reads headers and bodies
  and writes replies with blocking calls without a timeout, so a client that stopped sending (or
  reading) would hold a thread for ever. With the timeout, each wait for the next bytes ends after that
  many seconds: the app answers a stalled body with 408 (server.backpressure), a stalled header or
  reply closes the connection. The timeout bounds idleness, not the length of a transfer: every send
  waits at most that long for room, however long the whole reply takes.
- The number of transfers a worker serves at once is bounded in the app (server.backpressure), below
  the thread count, so transfers never take every thread.
- A thread that answered a keep-alive request waits KEEPALIVE_LINGER_SEC for the client's next one
  before the connection goes back to the main loop (ThreadWorker.handle).
- New connections go to the worker holding the fewest (server.accept_balance): the workers no longer
  race for them, which left 7 of 8 keep-alive connections on one worker.
"""

from __future__ import annotations

import select
import socket

from gunicorn.workers.gthread import ThreadWorker as GThreadWorker

from server.accept_balance import STEP_ASIDE_RECHECK_SEC, AcceptBalance
from server.config import load_config

# gthread's main loop beats the worker's heartbeat whatever the threads do, so this only catches a
# worker whose main loop is stuck; long requests never trip it.
HEARTBEAT_TIMEOUT_SEC = 30
GRACEFUL_TIMEOUT_SEC = 20
# How long a thread that answered a keep-alive request waits for the same client's next one before it
# hands the connection back to the main loop's poller (see ThreadWorker.handle).
KEEPALIVE_LINGER_SEC = 0.002
KEPT_ALIVE_CONNECTIONS = 1000  # beyond the threads' own connections
# Made when gunicorn's arbiter loads this worker class, so every worker it forks shares the one table.
ACCEPT_BALANCE = AcceptBalance()


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


def _next_request_within(conn, seconds: float) -> bool:
    """Whether the client's next request starts within `seconds` (or is already read ahead)."""
    if conn.parser is None:
        return False
    if conn.parser.unreader.buf.getvalue():
        return True
    poller = select.poll()
    poller.register(conn.sock.fileno(), select.POLLIN)
    return bool(poller.poll(seconds * 1000))


class ThreadWorker(GThreadWorker):
    """gunicorn's gthread worker with the idle timeout on every accepted connection, a keep-alive
    client's next request served on the same thread when it follows at once, and connections spread
    evenly over the workers (server.accept_balance). The balance hooks into gthread's main loop:
    `set_accept_enabled` (called while it has room), `wait_for_and_dispatch_events` (every turn) and
    `accept`; `_accepting` and `nr_conns` are gthread's own."""

    balance: AcceptBalance | None = None

    def init_process(self) -> None:
        IdleTimeoutSocket.idle_timeout = float(load_config().get("server.idle_timeout_sec")) or None
        self.balance = ACCEPT_BALANCE if ACCEPT_BALANCE.claim() else None
        try:
            super().init_process()  # loads the app, then runs the main loop until the worker stops
        finally:
            ACCEPT_BALANCE.release()

    def set_accept_enabled(self, enabled: bool) -> None:
        balance = self.balance
        super().set_accept_enabled(enabled and not (balance and balance.another_takes_it(self.nr_conns)))

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        balance = self.balance
        if balance is not None and not self.alive:
            balance.release()  # stopping: it listens no more, so it must not draw connections
            self.balance = balance = None
        if balance is not None:
            if self._accepting and balance.another_takes_it(self.nr_conns):
                super().set_accept_enabled(False)  # an emptier worker takes the next connection
            balance.publish(self.nr_conns)
            if not self._accepting:
                timeout = min(timeout, STEP_ASIDE_RECHECK_SEC)  # run's next turn listens again if due
        super().wait_for_and_dispatch_events(timeout)

    def accept(self, listener) -> None:
        super().accept(listener)
        if self.balance is not None:
            self.balance.publish(self.nr_conns)  # before this loop turn ends, for the others to see

    def handle(self, conn):
        # A busy client sends its next request as soon as it has the reply. gthread would hand the
        # connection to the main loop, which waits for it in its poller and submits it to a thread
        # again: two more thread switches and GIL hand-offs a request (bench/overhead.py: voluntary
        # context switches 7.7 -> 4.3 a request, ~100 us less worker CPU). Waiting a moment here serves
        # it on this thread; a client that is slower gets the poller as before. The wait costs a
        # thread, never CPU, and a stopping worker does not wait.
        keep = super().handle(conn)
        while keep is True and self.alive and _next_request_within(conn, KEEPALIVE_LINGER_SEC):
            keep = super().handle(conn)
        return keep

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
        "worker_class": "server.serving.ThreadWorker",
        "workers": int(config.get("server.workers")),
        "threads": threads,
        "worker_connections": threads + KEPT_ALIVE_CONNECTIONS,
        "keepalive": int(config.get("server.keepalive_sec")),
        "timeout": HEARTBEAT_TIMEOUT_SEC,
        "graceful_timeout": GRACEFUL_TIMEOUT_SEC,
    }
