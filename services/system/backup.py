"""Backup and restore of a whole deployment (`./run.sh backup DIR`, `./run.sh restore DIR`): the stores'
side is database/backup; this is what the command line reaches it through."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from database.backup import dump, load
from services.call import Stores

BackupError = dump.BackupError


def backup(stores: Stores, folder: Path, say: Callable[[str], None]) -> dict:
    return dump.dump(stores.db, stores.blobs, folder, say)


def restore(stores: Stores, folder: Path, say: Callable[[str], None]) -> dict:
    return load.restore(stores.db, stores.blobs, folder, say)
