"""The /docs page, opened in headless Chromium, renders the endpoints from the served OpenAPI document.

Needs Chromium from Debian's packages: `apt-get install -y chromium` (run.sh test installs it when
missing). Without it the test is skipped, except under CI, where it fails.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import threading
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest

from server.config import load_config, schema_dir
from server.contract.schema_registry import load_schemas
from server.http.app import build_state, create_app
from server.process.embedded import free_port
from tests.fixtures.browser import chromium_environment

SHIPPED = schema_dir(load_config(env={k: v for k, v in os.environ.items() if k == "MODELREG_SERVER_SCHEMA_DIR"}))
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--window-size=1280,2000", "--virtual-time-budget=10000",
]


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed: apt-get install -y chromium")
    pytest.skip("chromium is not installed (apt-get install -y chromium)")


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@functools.cache
def shipped_registry():
    """Every declared endpoint, whether or not its handler is in place yet: the page only documents them."""
    registry, problems = load_schemas(SHIPPED)
    assert problems == []
    return registry


@pytest.fixture
def docs_url(app_config, db):
    state = build_state(app_config, shipped_registry())
    server = make_server("127.0.0.1", free_port(), create_app(app_config, state), _ThreadingServer, _QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/docs"
    server.shutdown()
    server.server_close()
    state.stores.db.client.close()


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    with chromium_environment() as env:
        return subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=120, env=env)


def test_the_docs_page_renders_the_endpoints(docs_url, tmp_path):
    binary = chromium()
    result = run_chromium(binary, tmp_path / "profile-dom", "--dump-dom", docs_url)
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    text = re.sub(r"<[^>]+>", " ", dom)
    assert "modelreg API" in text
    assert "Unable to render" not in text and "Failed to load API definition" not in text
    registry = shipped_registry()
    for service in registry.services:
        assert f'id="operations-tag-{service}"' in dom, service
    expected = ["models.get_all", "models.create", "models.get_by_id"] if "models" in registry.services else []
    expected += ["server.info", "debug.ping"]
    for name in expected:
        assert name in text, name
        assert f'data-path="/api/v{registry.endpoints[name][-1].version_text}/{name}"' in dom, name

    screenshot = tmp_path / "docs.png"
    result = run_chromium(binary, tmp_path / "profile-shot", f"--screenshot={screenshot}", docs_url)
    assert result.returncode == 0, result.stderr[-2000:]
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000  # a rendered page, not a blank one
