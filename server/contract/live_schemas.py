"""The schema set gunicorn's workers load: a checked copy of the schema folder, never the folder itself.

Workers read the schemas as they start, which under a reload is after the checker passed the folder;
an edit made in between would reach them unchecked, and a worker that cannot load its schemas stops
gunicorn. So the launcher copies the folder, checks the copy and points `<data_dir>/schemas/live` (a
symbolic link, replaced in one rename) at it before gunicorn's workers (re)start. Workers resolve the
link once as they load (server/contract/schema_registry.py), so each reads one whole copy. The newest
few copies are kept: a worker still starting from an earlier reload may be reading one.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from pathlib import Path

KEEP = 3  # copies kept, the live one included


class LiveSchemas:
    def __init__(self, source: Path, data_dir: Path):
        self.source = Path(source)
        self.root = Path(data_dir) / "schemas"
        self.live = self.root / "live"

    def copy(self) -> Path:
        """A copy of the source folder as it is now (to be checked, then published or discarded)."""
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.root / f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"  # names sort by age
        shutil.copytree(self.source, target, ignore=shutil.ignore_patterns(".*", "*~", "*.swp"))
        return target

    def publish(self, copy: Path) -> None:
        """Points `live` at `copy` in one rename, then removes copies older than the newest KEEP."""
        temporary = self.root / f".live-{uuid.uuid4().hex[:8]}"
        os.symlink(copy.name, temporary)  # relative: the data folder may move
        os.replace(temporary, self.live)
        copies = sorted(p for p in self.root.iterdir() if p.is_dir() and not p.is_symlink()
                        and not p.name.startswith("."))
        for old in copies[:-KEEP]:
            if old.resolve() != self.live.resolve():
                shutil.rmtree(old, ignore_errors=True)

    def discard(self, copy: Path) -> None:
        shutil.rmtree(copy, ignore_errors=True)
