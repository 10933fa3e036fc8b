"""One log line per API call, through the standard logging module and one formatter.

The line names the call (trx, endpoint, requested and served version), who made it (company and user
ids, never a name, key or token), how it ended (HTTP status, ClearML result code and subcode), and what
it cost (duration, database and object-store time, bytes in and out). Request data, headers and cookies
never reach it. An unhandled error's stack is written once, in its call's line.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import time
from pathlib import Path

CALLS = logging.getLogger("modelreg.calls")
FORMATS = ("json", "text")
# made once: json.dumps with options builds a new encoder on every call
_ENCODE = json.JSONEncoder(separators=(",", ":"), default=str).encode


class CallFormatter(logging.Formatter):
    """`json`: one object a line; `text`: the same fields as key=value pairs. Either way a stack becomes
    one field (escaped newlines), so a line stays one line."""

    def __init__(self, style: str = "json"):
        super().__init__()
        if style not in FORMATS:
            raise ValueError(f"log.format must be one of {', '.join(FORMATS)}, not {style!r}")
        self.style = style

    def format(self, record: logging.LogRecord) -> str:
        fields = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                  + f".{int(record.msecs):03d}Z", "level": record.levelname.lower(), "pid": record.process}
        fields.update(getattr(record, "call", None) or {"message": record.getMessage()})
        if record.exc_info:
            fields["stack"] = self.formatException(record.exc_info)
        if self.style == "json":
            return _ENCODE(fields)
        return " ".join(f"{key}={_ENCODE(value)}" for key, value in fields.items())


def configure(config) -> Path:
    """Writes the call lines of this process to <data_dir>/logs/<log.file> (several workers append to the
    same file, a line at a time). Returns the file."""
    folder = Path(config.get("server.data_dir")).expanduser().resolve() / "logs"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / str(config.get("log.file", "calls.log"))
    handler = logging.handlers.WatchedFileHandler(path, encoding="utf-8")
    handler.setFormatter(CallFormatter(str(config.get("log.format", "json")).strip().lower()))
    for old in list(CALLS.handlers):
        CALLS.removeHandler(old)
        old.close()
    CALLS.addHandler(handler)
    CALLS.setLevel(logging.INFO)
    CALLS.propagate = False  # the call lines go to their file, not to gunicorn's log
    return path


def active() -> bool:
    """Whether call lines are written (a process serving with ./run.sh; not an app inside tests)."""
    return bool(CALLS.handlers)


def write(fields: dict, error: BaseException | None = None) -> None:
    if not CALLS.handlers:
        return  # the app in a test process: no log file configured
    level = logging.ERROR if fields.get("status", 0) >= 500 else logging.INFO
    # the record is made directly: Logger.log would walk the stack for a caller the line never shows
    exc_info = (type(error), error, error.__traceback__) if error is not None else None
    CALLS.handle(CALLS.makeRecord(CALLS.name, level, "", 0, "call", (), exc_info, extra={"call": fields}))
