"""A cursor read ahead in a thread of its own, for replies that stream every match (records.get_all as
NDJSON): the database fetches (and, read in windows, sorts the next window) while the worker encodes and
sends; the two would take turns otherwise.

`open()` reads the first document on the caller's thread, so that a bad query fails while an error
envelope can still be sent, and only then starts the reader. The queue holds at most `depth` batches of
documents as the cursor gave them (undecoded BSON is far smaller than dicts): memory stays constant
however many documents match. The reader thread alone touches the cursor (pymongo cursors are not
thread-safe) and closes it; `close()` asks it to stop and waits for that.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator

BATCH_DOCUMENTS = 500  # documents handed over at a time: the writer sends each batch as one write


class Prefetch:
    def __init__(self, cursor, shape: Callable[[list], list[dict]], depth: int = 3,
                 batch_size: int = BATCH_DOCUMENTS):
        self.cursor = cursor
        self.shape = shape  # turns a batch as read into the documents the API shows
        self.batch_size = batch_size
        self.queue: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self.stop = threading.Event()
        self.failure: BaseException | None = None
        self.thread: threading.Thread | None = None

    def open(self) -> bool:
        """Reads the first document and starts reading ahead; False (and the cursor closed) when nothing
        matches. Raises what the first read raises, the cursor closed."""
        try:
            first = next(self.cursor, None)
        except BaseException:
            self.cursor.close()
            raise
        if first is None:
            self.cursor.close()
            return False
        self.thread = threading.Thread(target=self._run, args=(first,), name="cursor-prefetch", daemon=True)
        self.thread.start()
        return True

    def batches(self) -> Iterator[list[dict]]:
        """The documents, a batch at a time; raises at the end what stopped the reader early, if anything."""
        if self.thread is None:
            return
        while True:
            batch = self.queue.get()
            if batch is None:
                if self.failure is not None:
                    raise self.failure
                return
            yield self.shape(batch)

    def close(self) -> None:
        """Stops the reader and closes the cursor (at once if it never started); safe to call again."""
        self.stop.set()
        if self.thread is None:
            self.cursor.close()
        else:
            self.thread.join(30)

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, first) -> None:
        batch = [first]
        try:
            for doc in self.cursor:
                batch.append(doc)
                if len(batch) >= self.batch_size:
                    if not self._put(batch):
                        return
                    batch = []
            if batch:
                self._put(batch)
        except BaseException as exc:  # handed to the consumer, which reports it and ends the reply
            self.failure = exc
        finally:
            self.cursor.close()
            self._put(None)
