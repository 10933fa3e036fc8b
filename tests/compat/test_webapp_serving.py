"""server.webapp_dir: a folder with a (here: tiny fake) build of the web app is served at `/` next to
the API, the files route and the docs, with a generated configuration.json."""

from __future__ import annotations

import json

import pytest

from server.http.app import build_state, create_app
from server.http.webapp_route import WebappError
from tests.helpers import make_user

INDEX = b"<!doctype html><html><head><base href='/'></head><body><sm-root></sm-root></body></html>"
SCRIPT = b"console.log('web app');"


@pytest.fixture
def webapp_dir(tmp_path):
    folder = tmp_path / "webapp"
    (folder / "assets").mkdir(parents=True)
    (folder / "index.html").write_bytes(INDEX)
    (folder / "main.3f2a1c.js").write_bytes(SCRIPT)
    (folder / "assets" / "logo.svg").write_bytes(b"<svg/>")
    (folder / "configuration.json").write_text(json.dumps({"accountAdministration": True, "apiBaseUrl": "x"}))
    (tmp_path / "secret.txt").write_text("outside the folder")
    return folder


@pytest.fixture
def web_client(app_config, registry, db, webapp_dir):
    app_config.put("server.webapp_dir", str(webapp_dir))
    application = create_app(app_config, build_state(app_config, registry))
    yield make_user(application, "alice", "company_a_" + "0" * 22, role="admin")
    application.modelreg_state.stores.db.client.close()


def test_index_assets_and_client_routes(web_client):
    for path in ("/", "/projects/abc/models", "/login", "/dashboard?x=1"):
        path, _, query = path.partition("?")
        result = web_client.raw(path, method="GET", query_string=query or None)
        assert result.status_code == 200, path
        assert result.content == INDEX and result.headers["content-type"].startswith("text/html")
        assert result.headers["cache-control"] == "no-cache"
    script = web_client.raw("/main.3f2a1c.js", method="GET")
    assert script.status_code == 200 and script.content == SCRIPT
    assert "javascript" in script.headers["content-type"]
    assert web_client.raw("/assets/logo.svg", method="GET").content == b"<svg/>"
    head = web_client.raw("/main.3f2a1c.js", method="HEAD")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(SCRIPT))


def test_generated_configuration_points_at_this_server(web_client):
    result = web_client.raw("/configuration.json", method="GET")
    assert result.status_code == 200
    # the build's own keys stay; where the API and files are is ours
    assert result.json == {"accountAdministration": True, "apiBaseUrl": "/api", "fileBaseUrl": "/files"}


def test_api_files_and_docs_are_untouched(web_client):
    assert web_client.ok("server.info", {}, version="999.0")["version"]
    # the web app's own calls and the SDK's unversioned GETs with a body
    assert web_client.raw("/api/v999.0/login.supported_modes", {}).json["data"]["authenticated"] is True
    listed = web_client.raw("/models.get_all", {"only_fields": ["id"]}, method="GET")
    assert listed.status_code == 200 and listed.json["data"] == {"models": []}
    # an unknown API path is still an API error, never the web app's page
    missing = web_client.raw("/api/v2.13/models.nosuch", method="GET")
    assert missing.status_code == 404 and missing.json["meta"]["result_code"] == 404
    assert web_client.raw("/api/whatever", method="GET").json["meta"]["result_code"] == 400
    # the files route answers (here without object storage configured), not the web app
    files = web_client.raw("/files/none/here.bin", method="GET")
    assert files.content != INDEX and files.json["meta"]["result_code"] == files.status_code
    assert web_client.raw("/openapi.json", method="GET").json["openapi"]


def test_nothing_outside_the_folder(web_client, webapp_dir):
    (webapp_dir / "link.txt").symlink_to(webapp_dir.parent / "secret.txt")
    for path in ("/../secret.txt", "/%2E%2E/secret.txt", "/assets/../../secret.txt", "/link.txt"):
        result = web_client.raw(path, method="GET")
        assert b"outside the folder" not in result.content, path


def test_without_the_setting_root_is_an_api_error(client):
    result = client.raw("/", method="GET")
    assert result.status_code == 400 and result.json["meta"]["result_code"] == 400


def test_a_folder_without_index_is_refused(app_config, registry, tmp_path):
    app_config.put("server.webapp_dir", str(tmp_path))
    state = build_state(app_config, registry)
    with pytest.raises(WebappError, match="index.html"):
        create_app(app_config, state)
    state.stores.db.client.close()


def test_the_setting_and_its_short_environment_name():
    from server.config import load_config

    assert load_config(env={}).get("server.webapp_dir") == ""
    assert load_config(env={"MODELREG_WEBAPP_DIR": "/srv/webapp"}).get("server.webapp_dir") == "/srv/webapp"
    assert load_config(env={"MODELREG_SERVER_WEBAPP_DIR": "/srv/w2"}).get("server.webapp_dir") == "/srv/w2"
