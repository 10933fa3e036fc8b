"""Following the registry's change feed (`changes.get_since`) from a shell: each entry one JSON line,
the cursor kept in a file between runs, so a CI job with no inbound network picks up where it left off."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import TextIO

from client.api import Api, ApiFailure, worth_retrying

WAIT_SEC = 30  # one long poll while following (the server bounds it by change_log.max_wait_sec)
RETRY_FIRST_SEC, RETRY_MOST_SEC = 1.0, 30.0  # a follower's pause after a failed poll, doubling up to this




def read_cursor(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def write_cursor(path: Path, cursor: str) -> None:
    """Replaces the file whole: a job killed while writing leaves the previous cursor, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".tmp")
    partial.write_text(cursor + "\n")
    os.replace(partial, path)


def print_changes(api: Api, out: TextIO, *, cursor: str | None = None, kinds: list[str] | None = None,
                  follow: bool = False, cursor_file: Path | None = None, limit: int = 100) -> str | None:
    """Writes the entries after `cursor` (else the one in `cursor_file`, else from the start of retention)
    to `out`, one JSON line each, and returns the last cursor. Without `follow` it stops once it has
    caught up; with it, it waits for more until interrupted, and asks again after a pause that doubles up
    to RETRY_MOST_SEC when the server is unreachable or answers a status worth retrying
    (api.worth_retrying). The cursor file, when given, is rewritten after each batch has been written out,
    so an entry is printed again after a crash, never skipped."""
    cursor = cursor if cursor is not None else read_cursor(cursor_file)
    pause = RETRY_FIRST_SEC
    while True:
        request = {"cursor": cursor, "limit": limit, "wait_sec": WAIT_SEC if follow else 0}
        if kinds:
            request["kinds"] = kinds
        try:
            reply = api.call("changes.get_since", request)
        except ApiFailure as failure:
            if not (follow and worth_retrying(failure.code)):
                raise
            time.sleep(pause)  # a follower outlives a restart of the server or a busy moment
            pause = min(pause * 2, RETRY_MOST_SEC)
            continue
        pause = RETRY_FIRST_SEC
        for entry in reply.get("entries", []):
            out.write(json.dumps(entry, separators=(",", ":")) + "\n")
        out.flush()
        cursor = reply.get("cursor", cursor)
        if cursor_file is not None and cursor is not None:
            write_cursor(cursor_file, cursor)
        if not follow and len(reply.get("entries", [])) < limit:
            return cursor
