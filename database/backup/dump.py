"""Writes a backup (layout in database/backup/__init__.py). Documents and objects are streamed: one
batch of documents and one chunk of an object in memory at a time.

Taken while the registry serves, each collection is read by one cursor from start to end: a document
written during the read may or may not be in it, and collections are read one after the other, so the
backup is consistent per document, not a point in time across collections (an object uploaded after
the objects were listed, or a model whose file landed after its collection was read, may be missing).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.database import Database

from database import clock
from database.backup import FORMAT, FORMAT_VERSION, MANIFEST
from database.collections import record_rollup_months
from database.migrations import runner

RAW = CodecOptions(document_class=RawBSONDocument)
BATCH = 500


class BackupError(RuntimeError):
    pass


# Copies that reads rebuild and that a backup taken while serving could restore out of step with what
# they copy (a month's pack of roll-ups written before a write its days then hold).
REBUILT_BY_READS = frozenset({record_rollup_months.MONTHS})


def collection_names(db: Database, *, rebuilt_by_reads: bool = False) -> list[str]:
    """The deployment's collections (a backup's: without those reads rebuild, unless asked)."""
    return sorted(name for name in db.list_collection_names()
                  if not name.startswith("system.") and (rebuilt_by_reads or name not in REBUILT_BY_READS))


def dump(db: Database, blobs, folder: Path, say: Callable[[str], None] = lambda _: None) -> dict:
    """Writes every collection of `db` and every object of `blobs` (None: no object store) to `folder`,
    which must be empty or missing. Returns the manifest."""
    folder = Path(folder)
    if folder.exists() and any(folder.iterdir()):
        raise BackupError(f"{folder} is not empty: a backup goes into a new folder")
    (folder / "collections").mkdir(parents=True)
    (folder / "objects").mkdir()
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "started": clock.now().isoformat(),
                "data_version": runner.current_version(db), "database": db.name, "collections": {}, "objects": []}
    for name in collection_names(db):
        manifest["collections"][name] = _dump_collection(db, name, folder / "collections" / f"{name}.bson")
        say(f"{name}: {manifest['collections'][name]['documents']} documents")
    if blobs is not None:
        manifest["bucket"] = blobs.bucket
        for number, key in enumerate(blobs.keys()):
            manifest["objects"].append(_dump_object(blobs, key, folder / "objects", number))
        say(f"objects: {len(manifest['objects'])}")
    manifest["finished"] = clock.now().isoformat()
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def _dump_collection(db: Database, name: str, path: Path) -> dict:
    query = {"_id": {"$ne": runner.LEASE_ID}} if name == runner.META else {}  # a lease is no data
    digest, size, count = hashlib.sha256(), 0, 0
    with path.open("wb") as out:
        for doc in db.get_collection(name, codec_options=RAW).find(query, batch_size=BATCH):
            raw = doc.raw
            out.write(raw)
            digest.update(raw)
            size += len(raw)
            count += 1
    return {"file": f"collections/{path.name}", "documents": count, "bytes": size, "sha256": digest.hexdigest()}


def _dump_object(blobs, key: str, folder: Path, number: int) -> dict:
    stream = blobs.get(key)
    digest, size = hashlib.sha256(), 0
    path = folder / f"{number}.blob"
    try:
        with path.open("wb") as out:
            for chunk in stream.chunks:
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
    finally:
        stream.close()
    return {"key": key, "file": f"objects/{path.name}", "bytes": size, "sha256": digest.hexdigest(),
            "content_type": stream.content_type}
