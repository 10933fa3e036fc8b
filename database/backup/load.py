"""Checks a backup against its manifest and restores it into an empty deployment.

Every file's sha256 is checked before anything is written, so a damaged backup writes nothing. The
target must hold no documents (a `meta` collection holding only the data-version stamp of a first start
counts as empty) and its bucket no objects: a restore never merges into live data. Indexes are not part
of a backup; the next start creates them, after upgrading the restored data if it came from an older
release (database/migrations).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import bson
from bson.codec_options import CodecOptions
from bson.raw_bson import RawBSONDocument
from pymongo.database import Database

from database.backup import FORMAT, FORMAT_VERSION, MANIFEST
from database.backup.dump import BATCH, BackupError, collection_names
from database.migrations import runner

RAW = CodecOptions(document_class=RawBSONDocument)
READ_CHUNK = 1024 * 1024


def read_manifest(folder: Path) -> dict:
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise BackupError(f"{folder} holds no {MANIFEST}: not a backup")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(f"{path} is not a {FORMAT} backup of format version {FORMAT_VERSION}")
    return manifest


def verify(folder: Path) -> dict:
    """The manifest, once every file it names has its size and sha256; raises BackupError otherwise."""
    folder = Path(folder)
    manifest = read_manifest(folder)
    entries = list(manifest["collections"].values()) + list(manifest["objects"])
    for entry in entries:
        path = folder / entry["file"]
        if path.resolve().parent.parent != folder.resolve() or not path.is_file():
            raise BackupError(f"{entry['file']} is missing from the backup")
        digest, size = hashlib.sha256(), 0
        with path.open("rb") as source:
            while chunk := source.read(READ_CHUNK):
                digest.update(chunk)
                size += len(chunk)
        if size != entry["bytes"] or digest.hexdigest() != entry["sha256"]:
            raise BackupError(f"{entry['file']} does not match its checksum in the manifest: the backup is damaged")
    return manifest


def refuse_unless_empty(db: Database, blobs) -> None:
    for name in collection_names(db, rebuilt_by_reads=True):  # any document refuses the restore
        query = {"_id": {"$nin": [runner.VERSION_ID, runner.LEASE_ID]}} if name == runner.META else {}
        if db[name].find_one(query, projection={"_id": 1}) is not None:
            raise BackupError(f"the target database {db.name} is not empty (collection {name} holds documents): "
                              "restore into an empty deployment (a new data folder, database and bucket)")
    if blobs is not None and next(iter(blobs.keys()), None) is not None:
        raise BackupError(f"the target bucket {blobs.bucket} is not empty: restore into an empty deployment")


def restore(db: Database, blobs, folder: Path, say: Callable[[str], None] = lambda _: None) -> dict:
    folder = Path(folder)
    manifest = verify(folder)
    refuse_unless_empty(db, blobs)
    if manifest["objects"] and blobs is None:
        raise BackupError("the backup holds stored objects but no object store is configured")
    for name, entry in manifest["collections"].items():
        with (folder / entry["file"]).open("rb") as source:
            _load_collection(db, name, source)
        say(f"{name}: {entry['documents']} documents")
    if blobs is not None:
        blobs.ensure_bucket()
    for entry in manifest["objects"]:
        with (folder / entry["file"]).open("rb") as source:
            blobs.put(entry["key"], source, length=entry["bytes"], sha256=entry["sha256"],
                      content_type=entry.get("content_type") or "application/octet-stream")
    say(f"objects: {len(manifest['objects'])}")
    return manifest


def _load_collection(db: Database, name: str, source) -> None:
    target = db.get_collection(name, codec_options=RAW)
    if name == runner.META:  # may already hold the stamp of a first start: the backup's wins
        for doc in bson.decode_file_iter(source, codec_options=RAW):
            target.replace_one({"_id": doc["_id"]}, doc, upsert=True)
        return
    batch = []
    for doc in bson.decode_file_iter(source, codec_options=RAW):
        batch.append(doc)
        if len(batch) >= BATCH:
            target.insert_many(batch, ordered=True)
            batch = []
    if batch:
        target.insert_many(batch, ordered=True)
    if not db.list_collection_names(filter={"name": name}):
        db.create_collection(name)  # an empty collection stays a collection
