"""`python -m server schema check`: every problem of a schema folder as file:endpoint:version: message.
Adding an endpoint version is a schema edit only; a version no handler serves stops the server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from server.config import load_config, schema_dir
from server.contract.schema_check import check_directory
from server.contract.schema_registry import SchemaLoadError, load_registry
from server.http.app import build_state, create_app
from services.handlers import all_handlers
from tests.helpers import codes, make_user

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = ("debug.ping", "server.info")
# the folder the server would load (MODELREG_SERVER_SCHEMA_DIR may point the tests elsewhere)
SHIPPED = schema_dir(load_config(env={k: v for k, v in os.environ.items() if k == "MODELREG_SERVER_SCHEMA_DIR"}))

GOOD = """
_description: "Health checks"
_definitions {
    reply { type: object, properties { msg { type: string } } }
}
ping {
    authorize: false
    "1.0" {
        request { type: object, properties { echo { type: string, default: "x" } } }
        response { "$ref": "#/definitions/reply" }
    }
    "2.13": ${ping."1.0"} {
        request.properties.loud { type: boolean, default: false }
    }
}
"""


def folder(tmp_path: Path, **files: str) -> Path:
    for name, text in files.items():
        (tmp_path / f"{name}.conf").write_text(text)
    return tmp_path


def problems(tmp_path: Path, handlers=HANDLERS, **files: str) -> list[str]:
    return [str(p) for p in check_directory(folder(tmp_path, **files), handlers).problems]


def test_a_good_folder_passes_with_a_summary(tmp_path):
    result = check_directory(folder(tmp_path, debug=GOOD), HANDLERS)
    assert result.ok and result.problems == []
    assert result.summary() == "1 services, 1 endpoints, 2 versions: OK"


def test_hocon_syntax_errors_name_the_file_and_line(tmp_path):
    found = problems(tmp_path, debug=GOOD, server='info { "1.0" { request { type: object }\n response {{ } }')
    assert len(found) == 1
    assert found[0].startswith("server.conf:-:-: cannot parse: HOCON syntax error at line 2")


def test_an_unresolved_substitution_is_reported(tmp_path):
    broken = GOOD.replace('${ping."1.0"}', '${ping."1.5"}')
    [found] = problems(tmp_path, debug=broken)
    assert found.startswith("debug.conf:-:-: cannot parse:") and "ping." in found


def test_an_unresolved_ref_names_endpoint_and_version(tmp_path):
    broken = GOOD.replace("#/definitions/reply", "#/definitions/replies")
    found = problems(tmp_path, debug=broken)
    assert "debug.conf:debug.ping:1.0: unresolved $ref '#/definitions/replies'" in found
    assert "debug.conf:debug.ping:2.13: unresolved $ref '#/definitions/replies'" in found


def test_invalid_json_schema_is_reported(tmp_path):
    broken = GOOD.replace("loud { type: boolean", "loud { type: bool")
    [found] = problems(tmp_path, debug=broken)
    assert found.startswith("debug.conf:debug.ping:2.13: invalid JSON Schema at properties/loud/type")


@pytest.mark.parametrize("key", ['"2.x"', '"v2.13"', "2.13"])
def test_a_version_key_that_is_not_major_minor_is_reported(tmp_path, key):
    text = GOOD + f"\nextra {{\n  {key} {{ request {{ type: object }}, response {{ type: object }} }}\n}}\n"
    found = problems(tmp_path, handlers=HANDLERS + ("debug.extra",), debug=text)
    assert len(found) == 1 and found[0].startswith("debug.conf:debug.extra:")
    assert "version key must be major.minor" in found[0]


def test_every_version_without_a_handler_is_reported(tmp_path):
    found = problems(tmp_path, handlers=("server.info",), debug=GOOD)
    assert found == [
        "debug.conf:debug.ping:1.0: no handler serves this endpoint",
        "debug.conf:debug.ping:2.13: no handler serves this endpoint",
    ]


def test_a_response_that_is_not_an_object_is_reported(tmp_path):
    broken = GOOD.replace('response { "$ref": "#/definitions/reply" }', "response { type: array }")
    found = problems(tmp_path, debug=broken)
    assert "debug.conf:debug.ping:1.0: response schema must be type: object" in found[0]
    assert len(found) == 2  # 2.13 derives from 1.0


def test_defaults_and_examples_that_break_their_schema_are_reported(tmp_path):
    broken = GOOD.replace('echo { type: string, default: "x" }', "echo { type: string, default: 5 }").replace(
        "msg { type: string }", 'msg { type: string, examples: ["ok", 7] }'
    )
    found = problems(tmp_path, debug=broken)
    assert (
        "debug.conf:debug.ping:1.0: request default at properties/echo breaks its own schema: 5 is not of type 'string'"
    ) in found
    assert (
        "debug.conf:-:-: example 1 at _definitions/reply/properties/msg breaks its own schema: "
        "7 is not of type 'string'"
    ) in found


def test_a_response_example_of_a_whole_result_is_checked(tmp_path):
    text = GOOD.replace(
        'response { "$ref": "#/definitions/reply" }',
        'response { type: object, required: [msg], properties { msg { type: string } }, examples: [{msg: "ok"}, {}] }',
    )
    found = problems(tmp_path, debug=text)
    assert found[0] == (
        "debug.conf:debug.ping:1.0: response example 1 at (root) breaks its own schema: 'msg' is a required property"
    )


def test_problems_in_several_files_are_all_reported(tmp_path):
    found = problems(
        tmp_path,
        handlers=("debug.ping",),
        debug=GOOD.replace("#/definitions/reply", "#/definitions/nope"),
        server="info {\n",
        models='get_all { "2.1" { request { type: object }, response { type: object } } }',
    )
    files = {p.split(":", 1)[0] for p in found}
    assert files == {"debug.conf", "server.conf", "models.conf"}
    assert "models.conf:models.get_all:2.1: no handler serves this endpoint" in found


def test_the_command_line_exits_1_with_one_line_per_problem(tmp_path):
    folder(tmp_path, debug=GOOD.replace("#/definitions/reply", "#/definitions/nope"), models="x {")
    result = subprocess.run(
        [sys.executable, "-m", "server", "schema", "check", str(tmp_path)], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == "debug.conf:debug.ping:1.0: unresolved $ref '#/definitions/nope'"
    assert any(line.startswith("models.conf:-:-: cannot parse:") for line in lines)
    assert "problems" in result.stderr


def test_the_command_line_exits_0_with_a_summary(tmp_path):
    folder(tmp_path, debug=GOOD)
    result = subprocess.run(
        [sys.executable, "-m", "server", "schema", "check", str(tmp_path)], cwd=ROOT, capture_output=True, text=True
    )
    assert (result.returncode, result.stdout) == (0, "1 services, 1 endpoints, 2 versions: OK\n"), result.stderr


def test_the_shipped_schema_folder_passes():
    result = check_directory(SHIPPED)
    assert result.problems == []
    assert result.ok


# --- adding a version is a schema edit -------------------------------------------------------------

NEW_INFO_VERSION = """
info {
    "2.35": ${info."2.12"} {
        description: "Asks whether the caller wants the long form"
        request.required: [verbose]
        request.properties.verbose { type: boolean }
    }
}
"""
NEW_MODELS_VERSION = """
get_all {
    "2.35": ${get_all."2.26"} {
        description: "Pages of at most 10"
        request.properties.page_size { type: integer, minimum: 1, maximum: 10 }
    }
}
"""


@pytest.fixture
def schema_copy(tmp_path) -> Path:
    copy = tmp_path / "services"
    shutil.copytree(SHIPPED, copy)
    return copy


def test_a_declared_version_is_served_without_code(app_config, db, schema_copy):
    with open(schema_copy / "server.conf", "a") as conf:
        conf.write(NEW_INFO_VERSION)
    assert check_directory(schema_copy).ok
    state = build_state(app_config, load_registry(schema_copy, all_handlers().keys()))
    admin = make_user(create_app(app_config, state), "op", "company_ops_" + "0" * 20, role="admin")
    meta = admin.error("server.info", {}, version="2.35")
    assert codes(meta) == (400, 12) and "verbose" in meta["result_msg"]
    meta = admin.call("server.info", {"verbose": True}, version="2.35").json["meta"]
    assert (meta["result_code"], meta["endpoint"]["actual_version"]) == (200, "2.35")
    assert codes(admin.error("server.info", {}, version="2.40")) == (400, 12)  # above: the newest version
    old = admin.call("server.info", {}, version="2.34").json["meta"]
    assert (old["result_code"], old["endpoint"]["actual_version"]) == (200, "2.12")
    assert codes(admin.error("server.info", {})) == (400, 12)  # the server's API version rose to 2.35
    state.stores.db.client.close()


def test_a_declared_models_version_is_served_without_code(app_config, db, schema_copy):
    assert "models.get_all" in all_handlers(), "models.get_all has no handler"
    with open(schema_copy / "models.conf", "a") as conf:
        conf.write(NEW_MODELS_VERSION)
    state = build_state(app_config, load_registry(schema_copy, all_handlers().keys()))
    admin = make_user(create_app(app_config, state), "op", "company_ops_" + "0" * 20, role="admin")
    meta = admin.error("models.get_all", {"page": 0, "page_size": 50}, version="2.35")
    assert codes(meta) == (400, 12) and "page_size" in meta["result_msg"]
    assert admin.ok("models.get_all", {"page": 0, "page_size": 10}, version="2.35")["models"] == []
    assert admin.ok("models.get_all", {"page": 0, "page_size": 50}, version="2.34")["models"] == []
    state.stores.db.client.close()


def test_a_version_without_a_handler_is_reported_and_refused_at_start(app_config, schema_copy):
    with open(schema_copy / "server.conf", "a") as conf:
        conf.write('\nreboot {\n  "2.35" { request { type: object }, response { type: object } }\n}\n')
    assert [str(p) for p in check_directory(schema_copy).problems] == [
        "server.conf:server.reboot:2.35: no handler serves this endpoint"
    ]
    app_config.put("server.schema_dir", str(schema_copy))
    with pytest.raises(SchemaLoadError, match="server.conf:server.reboot:2.35: no handler serves this endpoint"):
        build_state(app_config)
