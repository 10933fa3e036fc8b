"""The rules of docs/ARCHITECTURE.md, checked on the source: layering, one place for the company rule,
no imports between handler modules, and the start-up checks of the handler table."""

from __future__ import annotations

import ast
import dataclasses
import re
import sys
import types
from pathlib import Path

import pytest

from server.config import load_config, schema_dir
from server.contract.schema_registry import SchemaLoadError, load_registry
from services import handlers

ROOT = Path(__file__).resolve().parents[2]
COMPOSITION_ROOTS = {"server/http/app.py", "server/process/embedded.py"}  # they connect and start the stores


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


def _sources(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def _module(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


DRIVERS = ("pymongo", "minio", "bson", "gridfs")


def test_layers_import_one_way():
    for path in _sources("database"):
        assert not [n for n in _imports(path) if n.split(".")[0] in ("services", "server", "falcon")], path
    for path in _sources("services"):
        bad = [n for n in _imports(path) if n.split(".")[0] in ("server", "falcon", *DRIVERS)]
        assert not bad, (path, bad)
    for path in _sources("server"):
        relative = str(path.relative_to(ROOT))
        bad = [n for n in _imports(path) if n.split(".")[0] in DRIVERS]
        if relative not in COMPOSITION_ROOTS:
            bad += [n for n in _imports(path) if n.split(".")[0] == "database"]
        assert not bad, (relative, bad)


def test_the_client_package_shares_no_code_with_the_server():
    """client/ (the `modelreg` command line) talks to the server over HTTP only, and nothing of the
    server imports it: either side can change without the other."""
    for path in _sources("client"):
        bad = [n for n in _imports(path) if n.split(".")[0] in ("server", "services", "database", "falcon", *DRIVERS)]
        assert not bad, (str(path.relative_to(ROOT)), bad)
    for folder in ("server", "services", "database"):
        for path in _sources(folder):
            assert not [n for n in _imports(path) if n.split(".")[0] == "client"], path


def test_only_the_database_layer_touches_the_drivers():
    for folder in ("server", "services", "bench"):
        for path in _sources(folder):
            if folder == "bench":
                continue  # benchmarks compare against the bare drivers on purpose
            assert not [n for n in _imports(path) if n.split(".")[0] in DRIVERS], path


# the three parts, and the few modules every part uses: the connection, its errors, the one clock and the
# one id generator, the index set-up, the per-call time spent in the stores; and the stored data's
# upgrades (migrations) and its backup and restore
DATABASE_LAYOUT = {"__init__.py", "connection.py", "errors.py", "indexes.py", "clock.py", "ids.py", "query",
                   "collections", "storage", "timing.py", "migrations", "backup"}


def test_the_database_layer_holds_only_queries_collections_and_storage():
    """Clients of other machines (the guarded outbound client, URL fetches) belong to services/."""
    found = {p.name for p in (ROOT / "database").iterdir() if p.name != "__pycache__"}
    assert found <= DATABASE_LAYOUT, sorted(found - DATABASE_LAYOUT)


def test_the_app_never_imports_process_supervision():
    for folder in ("server/http", "server/contract", "services", "database"):
        for path in _sources(folder):
            bad = [n for n in _imports(path) if n.startswith("server.process")]
            assert not bad, (str(path.relative_to(ROOT)), bad)


def test_no_module_imports_a_handler_module():
    """Handler modules are leaves: what two of them share (within a feature or across) lives in a plain
    module of the feature or in services/shared/, so features never reach into each other's handlers."""
    handler_modules = {f"services.{name}" for name in handlers.HANDLER_MODULES}
    for folder in ("server", "services", "database"):
        for path in _sources(folder):
            for name in _imports(path):
                target = next((h for h in handler_modules if name == h or name.startswith(h + ".")), None)
                assert target is None or target == _module(path), (_module(path), target)


MAX_MODULE_LINES = 420  # about 400: a module past it holds more than one job


def test_no_module_is_larger_than_one_job():
    for folder in ("server", "services", "database", "client"):
        for path in _sources(folder):
            lines = len(path.read_text().splitlines())
            assert lines <= MAX_MODULE_LINES, f"{path.relative_to(ROOT)} has {lines} lines"


COMPANY_FILTER = re.compile(r"""["']company["']\s*:\s*\{\s*["']\$(in|or|nin|ne)["']|\bdb\[|\.collection\b""")


def test_the_company_rule_and_collection_names_stay_out_of_services():
    for path in _sources("services"):
        found = [line for line in path.read_text().splitlines() if COMPANY_FILTER.search(line)]
        assert not found, (path, found)


RAW_DATABASE = re.compile(r"\b[Cc]all\.db\b|\bdb\[")


def test_handlers_reach_data_through_the_scope_and_the_directory_only():
    """No raw database handle in services/: a company's documents through `call.scope`, users and key
    pairs across companies through `call.directory`, each holding its rule of who reaches what."""
    from services.call import Call

    assert not hasattr(Call, "db") and "db" not in {f.name for f in dataclasses.fields(Call)}
    for path in _sources("services"):
        found = [line for line in path.read_text().splitlines() if RAW_DATABASE.search(line)]
        assert not found, (str(path.relative_to(ROOT)), found)


def test_only_the_scoped_layer_builds_company_conditions():
    pattern = re.compile(r"""["']company["']\s*:\s*\{\s*["']\$in["']""")
    allowed = {"database/collections/scoped.py"}
    for path in _sources("database"):
        relative = str(path.relative_to(ROOT))
        if relative not in allowed:
            assert not pattern.search(path.read_text()), relative


def test_a_handler_without_a_schema_entry_stops_the_start():
    directory = schema_dir(load_config(env={}))
    names = [*handlers.all_handlers(), "models.vanish"]
    with pytest.raises(SchemaLoadError, match="models.conf:models.vanish:-: a handler serves it but no schema"):
        load_registry(directory, names)


def test_two_handlers_for_one_endpoint_are_refused(monkeypatch):
    twice = types.ModuleType("services.system.debug_twice")
    exec("from services.handlers import handles\n@handles('debug.ping')\ndef ping(call):\n    return {}\n",
         twice.__dict__)
    twice.ping.__module__ = twice.__name__
    monkeypatch.setitem(sys.modules, twice.__name__, twice)
    assert set(handlers.handler_table(("system.debug",))) == {"debug.ping"}
    with pytest.raises(RuntimeError, match="two handlers for debug.ping"):
        handlers.handler_table(("system.debug", "system.debug_twice"))


def test_every_handler_module_is_listed_and_registers_something():
    listed = set(handlers.HANDLER_MODULES)
    for path in _sources("services"):
        if re.search(r"^@handles\(", path.read_text(), re.M):
            name = _module(path).removeprefix("services.")
            assert name in listed, f"{path.relative_to(ROOT)} holds handlers but is not in HANDLER_MODULES"
    table = handlers.all_handlers()
    for name in listed:
        assert any(f.__module__ == f"services.{name}" for f in table.values()), name
