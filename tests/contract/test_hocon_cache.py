"""Parsed schema files come back from the disk cache for the same bytes, are parsed again when a file or
a shared include changes, and a broken or unwritable cache changes nothing but speed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from server import hocon_cache
from server.contract.schema_registry import load_schemas

SHIPPED = Path(__file__).resolve().parents[2] / "schema" / "services"


@pytest.fixture
def folder(tmp_path, monkeypatch):
    target = tmp_path / "services"
    target.mkdir()
    for name in ("_api_defaults.conf", "_common.conf", "server.conf"):
        shutil.copy(SHIPPED / name, target / name)
    monkeypatch.setenv("MODELREG_SCHEMA_CACHE_DIR", str(tmp_path / "cache"))
    return target


def _entries(folder: Path) -> list[Path]:
    return sorted((folder.parent / "cache").glob("*.json"))


def _info_versions(folder: Path) -> list[str]:
    registry, problems = load_schemas(folder)
    assert problems == []
    return [v.version_text for v in registry.endpoints["server.info"]]


def test_a_second_load_reads_what_the_first_parsed(folder):
    first = _info_versions(folder)
    stored = _entries(folder)
    assert len(stored) == 2  # _api_defaults.conf and server.conf
    # the stored parse is what a load uses: change it and the next load shows the change
    for entry in stored:
        tree = json.loads(entry.read_text())
        if "info" in tree:
            tree["info"]["description"] = "read from the cache"
            for block in tree["info"].values():
                if isinstance(block, dict):
                    block["description"] = "read from the cache"
            entry.write_text(json.dumps(tree))
    registry, _ = load_schemas(folder)
    assert [v.version_text for v in registry.endpoints["server.info"]] == first
    assert {v.description for v in registry.endpoints["server.info"]} == {"read from the cache"}
    assert len(_entries(folder)) == 2


def test_an_edited_file_or_include_is_parsed_again(folder):
    before = _info_versions(folder)
    with open(folder / "server.conf", "a") as conf:
        conf.write('\ninfo { "2.35": ${info."2.12"} {} }\n')
    assert _info_versions(folder) == [*before, "2.35"]
    assert len(_entries(folder)) == 3
    with open(folder / "_common.conf", "a") as shared:
        shared.write("\n# a comment changes the bytes\n")
    _info_versions(folder)
    assert len(_entries(folder)) == 5  # every file that may include it is parsed again


def test_a_corrupt_entry_is_parsed_again(folder):
    expected = _info_versions(folder)
    for entry in _entries(folder):
        entry.write_text('{"half')
    assert _info_versions(folder) == expected


def test_without_a_writable_cache_the_schemas_still_load(folder, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MODELREG_SCHEMA_CACHE_DIR", str(blocker / "cache"))
    assert _info_versions(folder)
    monkeypatch.setenv("MODELREG_SCHEMA_CACHE_DIR", "")
    assert hocon_cache.cache_dir() is None
    assert _info_versions(folder)


def test_a_syntax_error_is_reported_not_cached(folder):
    (folder / "server.conf").write_text("info { broken")
    _, problems = load_schemas(folder)
    assert problems and "cannot parse" in problems[0].message
    assert len(_entries(folder)) == 1  # only _api_defaults.conf
