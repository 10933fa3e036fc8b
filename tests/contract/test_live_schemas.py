"""The copies of the schema folder gunicorn's workers load: a copy is what the folder was when taken,
publishing one moves the link in one step, and only the newest few copies are kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from server.contract.live_schemas import KEEP, LiveSchemas
from server.contract.schema_registry import load_schemas

SHIPPED = Path(__file__).resolve().parents[2] / "schema" / "services"


@pytest.fixture
def source(tmp_path) -> Path:
    """A copy of the shipped schema folder, to edit."""
    folder = tmp_path / "services"
    shutil.copytree(SHIPPED, folder)
    return folder


@pytest.fixture
def live(source, tmp_path) -> LiveSchemas:
    return LiveSchemas(source, tmp_path / "data")


def test_published_copies_are_what_the_folder_was_and_old_ones_go(source, live):
    first = live.copy()
    live.publish(first)
    (source / "server.conf").write_text("broken {")  # edited after the copy: the live set is unchanged
    registry, problems = load_schemas(live.live)
    assert problems == [] and "server.info" in registry.endpoints
    assert live.live.resolve() == first.resolve()

    copies = []
    for _ in range(KEEP + 2):
        shutil.copy(SHIPPED / "server.conf", source / "server.conf")
        copies.append(live.copy())
        live.publish(copies[-1])
    kept = sorted(p.name for p in live.root.iterdir() if p.is_dir() and not p.is_symlink())
    assert kept == sorted(c.name for c in copies[-KEEP:])
    assert live.live.resolve() == copies[-1].resolve()


def test_a_discarded_copy_leaves_the_live_one(live):
    good = live.copy()
    live.publish(good)
    bad = live.copy()
    live.discard(bad)
    assert not bad.exists() and live.live.resolve() == good.resolve()
