"""One log line per API call, appended to one file by every worker.

The line names the call (trx, endpoint, requested and served version), who made it (company and user
ids, never a name, key or token), how it ended (HTTP status, ClearML result code and subcode), and what
it cost (duration, database and object-store time, bytes in and out). Request data, headers and cookies
never reach it. An unhandled error's stack is written once, in its call's line.

The line is written with one `os.write` to a file opened with O_APPEND: the kernel appends each write
whole, so the lines of several workers and threads never interleave, and nothing is buffered in the
process. The logging module's WatchedFileHandler cost about a sixth of a `get_by_id` call's CPU (a record
object, a stat of the file and a flush per line); here a rotation (logrotate moving or removing the
file, without copytruncate) is noticed by checking the path's inode at most once a second, so the lines
of that second still reach the moved file and the next ones a new file.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from pathlib import Path

from server.http.json_text import encode_any

FORMATS = ("json", "text")
CHECK_SEC = 1.0  # how often the path is checked for a rotation


class LineFile:
    """The log file as an O_APPEND descriptor, reopened when its path names another file (or none)."""

    def __init__(self, path: Path, check_sec: float = CHECK_SEC):
        self.path = path
        self.check_sec = check_sec
        self._lock = threading.Lock()  # a reopen closes the descriptor another thread may be writing to
        self._fd, self._inode = self._open()
        self._checked = time.monotonic()

    def _open(self) -> tuple[int, tuple[int, int]]:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        stat = os.fstat(fd)
        return fd, (stat.st_dev, stat.st_ino)

    def _follow_rotation(self) -> None:
        try:
            stat = os.stat(self.path)
            if (stat.st_dev, stat.st_ino) == self._inode:
                return
        except FileNotFoundError:
            pass
        fd, inode = self._open()
        os.close(self._fd)
        self._fd, self._inode = fd, inode

    def write(self, line: bytes) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._checked >= self.check_sec:
                self._checked = now
                self._follow_rotation()
            written = os.write(self._fd, line)
            while written < len(line):  # only on a full disk or a signal; the rest as its own append
                line = line[written:]
                written = os.write(self._fd, line)

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                os.close(self._fd)
                self._fd = -1


class CallLines:
    """Formats the lines. `json`: one object a line; `text`: the same fields as key=value pairs. Either way
    a stack becomes one field (escaped newlines), so a line stays one line."""

    def __init__(self, target: LineFile, style: str = "json"):
        if style not in FORMATS:
            raise ValueError(f"log.format must be one of {', '.join(FORMATS)}, not {style!r}")
        self.target = target
        self.style = style
        self._second = -1
        self._second_text = ""
        self._failed_at = -CHECK_SEC

    def _time(self, now: float) -> str:
        second = int(now)
        if second != self._second:  # the date and time change once a second: formatted once a second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{int((now - second) * 1000):03d}Z"

    def line(self, fields: dict, error: BaseException | None = None, now: float | None = None) -> bytes:
        head = {"time": self._time(time.time() if now is None else now),
                "level": "error" if fields.get("status", 0) >= 500 else "info", "pid": os.getpid()}
        head.update(fields)
        if error is not None:
            head["stack"] = "".join(traceback.format_exception(type(error), error, error.__traceback__)).rstrip("\n")
        if self.style == "json":
            return encode_any(head) + b"\n"
        return b" ".join(key.encode() + b"=" + encode_any(value) for key, value in head.items()) + b"\n"

    def write(self, fields: dict, error: BaseException | None = None) -> None:
        try:
            self.target.write(self.line(fields, error))
        except OSError as exc:  # a full disk or a removed folder must not fail the call itself
            now = time.monotonic()
            if now - self._failed_at >= CHECK_SEC:  # said once a second, not once a call
                self._failed_at = now
                print(f"modelreg: call lines not written to {self.target.path}: {exc}", file=sys.stderr)


_LINES: CallLines | None = None


def configure(config) -> Path:
    """Writes the call lines of this process to <data_dir>/logs/<log.file> (several workers append to the
    same file, a line at a time). Returns the file."""
    global _LINES
    folder = Path(config.get("server.data_dir")).expanduser().resolve() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / str(config.get("log.file", "calls.log"))
    style = str(config.get("log.format", "json")).strip().lower()
    if style not in FORMATS:  # refused before anything is opened
        raise ValueError(f"log.format must be one of {', '.join(FORMATS)}, not {style!r}")
    stop()
    _LINES = CallLines(LineFile(path), style)
    return path


def stop() -> None:
    """No more call lines from this process (its file closed)."""
    global _LINES
    lines, _LINES = _LINES, None
    if lines is not None:
        lines.target.close()


def active() -> bool:
    """Whether call lines are written (a process serving with ./run.sh; not an app inside tests)."""
    return _LINES is not None


def write(fields: dict, error: BaseException | None = None) -> None:
    lines = _LINES
    if lines is not None:  # else the app in a test process: no log file configured
        lines.write(fields, error)
