"""A progress bar on stderr, drawn at most ten times a second; silent when disabled (--quiet, or stderr
is not a terminal)."""

from __future__ import annotations

import sys
import threading
import time

MIB = 1024 * 1024


class Progress:
    def __init__(self, total: int, label: str, enabled: bool):
        self.total, self.label, self.enabled = max(total, 0), label, enabled
        self.done = 0
        self._start = time.monotonic()
        self._drawn = 0.0
        self._lock = threading.Lock()

    def update(self, count: int) -> None:
        with self._lock:
            self.done += count
            now = time.monotonic()
            if self.enabled and (now - self._drawn >= 0.1 or self.done >= self.total):
                self._drawn = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        share = self.done / self.total if self.total else 1.0
        rate = self.done / max(now - self._start, 1e-6) / MIB
        bar = "#" * int(share * 30)
        sys.stderr.write(f"\r{self.label} [{bar:<30}] {share:6.1%} {self.done / MIB:,.1f}/{self.total / MIB:,.1f} MiB"
                         f" {rate:,.1f} MiB/s")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()
