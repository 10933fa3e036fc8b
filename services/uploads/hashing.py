"""The whole file's sha256, from what was hashed as the parts arrived.

SHA-256 runs strictly in byte order and hashlib cannot hand its state to another process, so each
process keeps, per session, a running hash over the contiguous prefix of parts it received in order
(part 1, then 2, ...): a part that arrives while its predecessors are folded in is hashed into it on the
way to the store, at no extra cost. Everything else is recorded per part (its own sha256, in MongoDB).
At `uploads.complete` the prefix held by the completing process is trusted only as far as its parts'
hashes equal the recorded ones (a part sent again replaces the earlier bytes), and the parts after it
are read back from the joined object. So: one client sending in order to one process never reads
anything back; parts sent in parallel, resumed elsewhere, or completed on another process cost one
read of the parts beyond the prefix, inside the object store's network rather than the client's.

This cache is an optimisation that behaves as if it were not there: bounded, per process, and checked
against MongoDB before use.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable

from database.storage import multipart
from database.storage.blobstore import BlobStore
from services.uploads import plan

MAX_SESSIONS = 64  # running hashes kept per process; the least recently used one goes first


class _Prefix:
    def __init__(self):
        self.hasher = hashlib.sha256()
        self.next = 1  # the part that may be folded in next
        self.folded: dict[int, str] = {}  # part number -> its sha256, as hashed in
        self.busy = False  # a part is being folded in


_prefixes: OrderedDict[str, _Prefix] = OrderedDict()
_lock = threading.Lock()


def begin_part(upload_id: str, number: int) -> Callable[[bytes], None] | None:
    """The function to feed part `number`'s bytes to while it streams, when it is the next part of this
    process's prefix; None otherwise (the part is then only hashed on its own)."""
    with _lock:
        prefix = _prefixes.get(upload_id)
        if prefix is None and number == 1:
            prefix = _prefixes[upload_id] = _Prefix()
            while len(_prefixes) > MAX_SESSIONS:
                _prefixes.popitem(last=False)
        if prefix is None or prefix.busy or prefix.next != number:
            return None
        prefix.busy = True
        _prefixes.move_to_end(upload_id)
        return prefix.hasher.update


def end_part(upload_id: str, number: int, sha256: str | None) -> None:
    """After a part that begin_part let fold in: advances the prefix, or (the part failed, so the
    running hash holds some of its bytes) forgets it."""
    with _lock:
        prefix = _prefixes.get(upload_id)
        if prefix is None or not prefix.busy or prefix.next != number:
            return
        if sha256 is None:
            del _prefixes[upload_id]
            return
        prefix.busy = False
        prefix.folded[number] = sha256
        prefix.next += 1


def forget(upload_id: str) -> None:
    with _lock:
        _prefixes.pop(upload_id, None)


def _usable_prefix(session: dict) -> tuple:
    """A copy of this process's running hash with the number of parts in it, when every part in it is
    the part recorded now."""
    with _lock:
        prefix = _prefixes.get(session["_id"])
        if prefix is None or prefix.busy:
            return None, 0
        parts = session.get("parts") or {}
        if any((parts.get(str(n)) or {}).get("sha256") != sha for n, sha in prefix.folded.items()):
            return None, 0
        return prefix.hasher.copy(), prefix.next - 1


def whole_sha256(session: dict, blobs: BlobStore, key: str) -> tuple[str, int]:
    """The sha256 of the joined object at `key`; returns (hex, parts read back from the store)."""
    hasher, done = _usable_prefix(session)
    if hasher is None:
        hasher, done = hashlib.sha256(), 0
    count = session["part_count"]
    for number in range(done + 1, count + 1):
        for chunk in multipart.read_range(blobs, key, plan.part_offset(session, number),
                                          plan.part_length(session, number)):
            hasher.update(chunk)
    forget(session["_id"])
    return hasher.hexdigest(), count - done
