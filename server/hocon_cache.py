"""Parsed HOCON files kept on disk, keyed by their bytes.

Parsing HOCON (pyhocon on pyparsing) is most of the cost of loading the schema folder, several seconds,
paid by every worker at boot, by every reload check and by every tool that loads the schemas (and half
a second for the default settings file). The parse of a file that uses no environment substitution
depends only on its bytes, the bytes of the shared `_*.conf` files beside it that it may include, and
the pyhocon version, so its result is stored as JSON under a digest of those and read back next time.

The cache is derived data: a missing, unreadable or corrupt entry is parsed again, a folder that cannot
be written just means no cache. It lives in `MODELREG_SCHEMA_CACHE_DIR`, else the user's cache folder
(`$XDG_CACHE_HOME/modelreg/schemas`, `~/.cache/modelreg/schemas`), created private to the user: whoever
can write there can change the schemas a server loads.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pyhocon import ConfigFactory, ConfigTree
from pyparsing import ParseBaseException

FORMAT = "1"  # bump when what _parse returns changes shape


def _parser_version() -> str:
    try:
        return version("pyhocon")
    except PackageNotFoundError:
        return "unknown"


def cache_dir() -> Path | None:
    configured = os.environ.get("MODELREG_SCHEMA_CACHE_DIR")
    if configured is not None:
        return Path(configured) if configured else None  # set empty: no cache
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "modelreg" / "schemas"


def _digest(path: Path) -> str:
    """Of the file, the shared files beside it (what an `include` can reach) and the parser."""
    digest = hashlib.sha256(f"{FORMAT}\0{_parser_version()}\0".encode())
    for source in [path, *sorted(p for p in path.parent.glob("_*.conf") if p != path)]:
        digest.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    return digest.hexdigest()


def _plain(value: Any) -> Any:
    """Plain dicts and lists (pyhocon's as_plain_ordered_dict also strips the quotes of "2.13" keys)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def parse(path: Path) -> dict:
    """The file as plain values, substitutions resolved; a syntax error is a ValueError naming its place."""
    try:
        tree = ConfigFactory.parse_file(str(path), resolve=True)
    except ParseBaseException as exc:  # pyhocon lets pyparsing's syntax errors through
        raise ValueError(f"HOCON syntax error at line {exc.lineno}, column {exc.col}: {exc.line.strip()!r}") from None
    return _plain(tree.as_plain_ordered_dict() if isinstance(tree, ConfigTree) else tree)


def load(path: Path) -> dict:
    """`parse(path)`, read from the cache when the same bytes were parsed before."""
    return parsed(path, parse)


def parsed(path: Path, parse: Callable[[Path], dict]) -> dict:
    """`parse(path)`, or what it returned before for the same bytes."""
    folder = cache_dir()
    if folder is None:
        return parse(path)
    key = _digest(path)
    entry = folder / f"{key}.json"
    try:
        with open(entry, encoding="utf-8") as stored:
            return json.load(stored)
    except (OSError, ValueError):
        pass
    result = parse(path)
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, temporary = tempfile.mkstemp(dir=folder, suffix=".tmp")
    except OSError:
        return result  # no cache this time; the parse stands
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(result, out)
        os.replace(temporary, entry)  # readers see the whole entry or none
    except (OSError, TypeError, ValueError):
        with contextlib.suppress(OSError):
            os.unlink(temporary)
    return result
