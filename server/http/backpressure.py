"""What keeps slow clients and long transfers from taking a worker hostage.

- `TransferSlots`: a worker serves at most `server.max_transfers` file transfers (uploads and downloads,
  RPC or /files, NDJSON streams, and calls that wait on another machine such as models.import_url) at
  once. One more is answered at once with 503 and Retry-After instead of queueing
  behind the others, so threads stay free for the JSON calls.
- `StallAwareStream`: a request body whose client sent nothing for the idle timeout (the socket's
  timeout, set by server.serving) raises services.failures.ClientStalled, answered 408; a body gunicorn
  cannot decode (a bad chunk size or terminator, a chunked body cut short) is a 400.
- `drain_refused`: the rest of the body of a call refused before its body was read, read and dropped, so
  a client that reads the answer only once it has sent everything gets it.

The slots are this process's own capacity, not shared state: each worker guards its own threads.
"""

from __future__ import annotations

import threading
import time

from gunicorn.http.errors import NoMoreData, ParseException

from services import errors
from services.failures import ClientStalled
from services.shared import metrics


class TransferSlots:
    """The worker's transfer slots, and each company's share of them (`per_company`, 0: none): they bound
    this process's threads, so they are counted here, not shared between workers."""

    def __init__(self, limit: int, retry_after: int = 5, per_company: int = 0):
        self.limit = limit
        self.retry_after = retry_after
        self.per_company = per_company if 0 < per_company < limit else 0
        self._free = threading.BoundedSemaphore(limit) if limit > 0 else None
        self._held: dict[str, int] = {}  # company -> slots it holds, with a share
        self._lock = threading.Lock()

    def acquire(self, company: str | None = None):
        """Takes a slot (for `company`, within its share) and returns the function that gives it back
        (call it exactly once)."""
        if self._free is None:
            metrics.TRANSFERS_IN_FLIGHT.inc()
            return _counted_release(None)
        counted = company if self.per_company and company is not None else None
        if counted is not None:
            with self._lock:
                if self._held.get(counted, 0) >= self.per_company:
                    raise self._busy("this company's transfers already hold its share of this worker's slots",
                                     share=self.per_company)
                self._held[counted] = self._held.get(counted, 0) + 1
        if not self._free.acquire(blocking=False):
            self._give_back(counted)
            raise self._busy("too many transfers (files, NDJSON streams, outbound fetches) in progress",
                             limit=self.limit)
        metrics.TRANSFERS_IN_FLIGHT.inc()
        return _counted_release(self._free, lambda: self._give_back(counted))

    def _give_back(self, company: str | None) -> None:
        if company is not None:
            with self._lock:
                left = self._held.pop(company) - 1
                if left:
                    self._held[company] = left

    def _busy(self, message: str, **extra) -> errors.ServiceBusy:
        busy = errors.ServiceBusy(message, **extra)
        busy.retry_after = self.retry_after
        return busy


def _counted_release(free: threading.BoundedSemaphore | None, also=None):
    released = threading.Event()  # a stream closed twice must not free two slots

    def release() -> None:
        if not released.is_set():
            released.set()
            metrics.TRANSFERS_IN_FLIGHT.dec()
            if free is not None:
                free.release()
            if also is not None:
                also()

    return release


class StallAwareStream:
    """A file-like request body; a read that times out becomes ClientStalled, one gunicorn cannot decode
    a BadRequest (every body, RPC or /files, is read through this)."""

    def __init__(self, stream):
        self._stream = stream
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self._guarded(self._stream.read, size)
        self.bytes_read += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self._guarded(self._stream.readline, size)
        self.bytes_read += len(data)
        return data

    @staticmethod
    def _guarded(read, size: int) -> bytes:
        try:
            return read(size)
        except TimeoutError as exc:
            raise ClientStalled("no data within the idle timeout") from exc
        except (ParseException, NoMoreData) as exc:
            raise errors.BadRequest("malformed request body", reason=str(exc) or type(exc).__name__) from exc


DRAIN_CHUNK = 1024 * 1024
DRAIN_SEC = 30  # at most this long in all: a client trickling the rest keeps no thread for longer


def refused(status: int) -> bool:
    """A refusal whose body is worth reading to its end: not a 408 (the client stopped sending) nor a 5xx
    (a busy or failing server answers at once and keeps no thread for it)."""
    return 400 <= status < 500 and status != 408


def drain_refused(stream: StallAwareStream, content_length: int | None, limit: int) -> None:
    """Reads and drops what is left of a declared body after its call was refused (401, a closed upload
    session, a wrong part size): http.client, requests and the ClearML SDK read the answer only once they
    have sent the whole body, and a server that answers and stops reading makes them fail on a broken
    pipe instead, the answer lost (the modelreg command line then reported an unreachable server). Only a
    rest of at most `limit` bytes (`server.refused_body_drain_bytes`) is read, each read within the idle
    timeout and all within DRAIN_SEC; a larger one, or a client that stalls or trickles, is left, and the
    server closes the connection."""
    left = (content_length or 0) - stream.bytes_read
    if left <= 0 or left > limit:
        return
    ends = time.monotonic() + DRAIN_SEC
    try:
        while left > 0 and time.monotonic() < ends:
            chunk = stream.read(min(left, DRAIN_CHUNK))
            if not chunk:
                return
            left -= len(chunk)
    except (ClientStalled, errors.ApiError, OSError):
        return


class ClosingStream:
    """A response body that runs its clean-up (closing the store's stream, giving back a transfer slot)
    exactly once when the server closes it, whether it was sent whole, in part, or not at all (a
    generator's `finally` would not run if iteration never started)."""

    def __init__(self, chunks, *cleanups):
        self._chunks = iter(chunks)
        self._cleanups = [c for c in cleanups if c is not None]

    def __iter__(self):
        return self

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        cleanups, self._cleanups = self._cleanups, []
        failed = []
        for cleanup in cleanups:  # each runs even if an earlier one failed
            try:
                cleanup()
            except Exception as exc:
                failed.append(exc)
        if failed:
            raise failed[0]
