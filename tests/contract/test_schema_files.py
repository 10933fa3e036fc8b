"""The schema files under schema/services: they load, declare the agreed endpoint versions, and validate."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.contract.schema_registry import load_schemas

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schema" / "services"

MODELS = {
    "models.get_by_id": ["2.1"],
    "models.get_by_task_id": ["2.1"],
    "models.get_by_id_ex": ["2.11"],
    "models.get_all_ex": ["2.1", "2.13", "2.15", "2.20", "2.23", "2.27"],
    "models.get_all": ["2.1", "2.15", "2.26", "2.99"],
    "models.get_frameworks": ["2.8"],
    "models.update_for_task": ["2.1"],
    "models.create": ["2.1", "2.13", "2.99"],
    "models.edit": ["2.1", "2.13", "2.99"],
    "models.update": ["2.1", "2.13"],
    "models.publish_many": ["2.13"],
    "models.archive_many": ["2.13"],
    "models.unarchive_many": ["2.13"],
    "models.delete_many": ["2.13"],
    "models.set_ready": ["2.1"],
    "models.delete": ["2.1", "2.13"],
    "models.make_public": ["2.9"],
    "models.make_private": ["2.9"],
    "models.move": ["2.12"],
    "models.add_or_update_metadata": ["2.13"],
    "models.delete_metadata": ["2.13"],
    "models.update_tags": ["2.27"],
    "models.upload": ["2.13"],
    "models.download": ["2.13"],
    "models.get_download_url": ["2.13"],
    "models.delete_file": ["2.13"],
    # modelreg extensions: versions, aliases, lineage, the model card, central download
    "models.get_versions": ["2.99"],
    "models.get_registered": ["2.99"],
    "models.get_latest": ["2.99"],
    "models.set_alias": ["2.99"],
    "models.delete_alias": ["2.99"],
    "models.get_by_alias": ["2.99"],
    "models.get_lineage": ["2.99"],
    "models.validate_input": ["2.99"],
    "models.import_url": ["2.99"],
    "models.get_at": ["2.99"],
    # the change log (docs/changes.md)
    "audit.get_all": ["2.99"],
    "audit.verify": ["2.99"],
    "changes.get_since": ["2.99"],
}

AUTH_DEBUG_SERVER = {
    "auth.login": ["2.1"],
    "auth.logout": ["2.1"],
    "auth.fixed_users_mode": ["2.1"],
    "auth.create_credentials": ["2.1"],
    "auth.get_credentials": ["2.1"],
    "auth.revoke_credentials": ["2.1"],
    "auth.create_user": ["2.1"],
    "auth.get_users": ["2.1"],
    "auth.delete_user": ["2.1"],
    "auth.get_companies": ["2.1"],
    "debug.ping": ["1.0"],
    "server.info": ["1.0", "2.8", "2.12"],
}

PROJECTS = {
    "projects.create": ["2.1"],
    "projects.get_by_id": ["2.1"],
    "projects.get_all": ["2.1", "2.13", "2.14", "2.15"],
    "projects.get_all_ex": ["2.1", "2.13", "2.15", "2.17", "2.20"],
    "projects.update": ["2.1"],
    "projects.delete": ["2.1"],
    "projects.validate_delete": ["2.14"],
    "projects.get_model_tags": ["2.8"],
    "projects.get_task_tags": ["2.8"],
    "projects.get_model_metadata_keys": ["2.17"],
    "projects.get_model_metadata_values": ["2.17"],
}

TASKS = {
    "tasks.create": ["2.1", "2.13"],
    "tasks.get_by_id": ["2.1"],
    "tasks.get_all": ["2.1", "2.14", "2.15", "2.26"],
    "tasks.get_all_ex": ["2.1", "2.13", "2.14", "2.15", "2.23", "2.27"],
    "tasks.edit": ["2.1", "2.13"],
    "tasks.started": ["2.1"],
    "tasks.stopped": ["2.1"],
    "tasks.failed": ["2.1"],
    "tasks.completed": ["2.2", "2.20"],
    "tasks.publish": ["2.1"],
    "tasks.reset": ["2.1", "2.13", "2.21"],
    "tasks.clone": ["2.5", "2.12", "2.13"],
    "tasks.enqueue": ["2.1"],
    "tasks.enqueue_many": ["2.13"],
    "tasks.delete": ["2.1", "2.13", "2.21"],
    "tasks.move": ["2.12"],
    "tasks.update_tags": ["2.27"],
    "tasks.add_or_update_model": ["2.13"],
    "tasks.delete_models": ["2.13"],
    "tasks.ping": ["2.1"],
    "tasks.set_requirements": ["2.1"],
    "tasks.validate": ["2.1", "2.13"],
    # ClearML endpoints a client may call that earlier versions lacked
    "tasks.add_or_update_artifacts": ["2.10"],
    "tasks.delete_artifacts": ["2.10"],
    "tasks.get_configurations": ["2.9"],
    "tasks.edit_configuration": ["2.9"],
    "tasks.get_hyper_params": ["2.9"],
    "tasks.edit_hyper_params": ["2.9"],
    "tasks.get_configuration_names": ["2.9"],
    "tasks.delete_configuration": ["2.9"],
    "tasks.delete_hyper_params": ["2.9"],
    "tasks.archive_many": ["2.13"],
    "tasks.unarchive_many": ["2.13"],
    "tasks.delete_many": ["2.13"],
    "tasks.publish_many": ["2.13"],
    "tasks.reset_many": ["2.13"],
    "tasks.stop_many": ["2.13"],
}

EVENTS = {
    "events.add_batch": ["2.1"],
    "events.get_task_log": ["2.1"],
    "events.add": ["2.1"],
    "events.get_task_plots": ["2.1", "2.22"],
    "events.scalar_metrics_iter_histogram": ["2.1", "2.22"],
    "events.get_task_single_value_metrics": ["2.20", "2.22"],
}

# what the ClearML web app needs beyond the SDK's endpoints
WEBAPP = {
    "login.supported_modes": ["2.9"],
    "login.logout": ["2.13"],
    "users.get_current_user": ["2.1"],
    "users.get_by_id": ["2.1"],
    "users.update": ["2.1"],
    "users.delete": ["2.1"],
    "users.get_all": ["2.1"],
    "users.get_all_ex": ["2.1", "2.8"],
    "users.get_preferences": ["2.1"],
    "users.set_preferences": ["2.1"],
    "organization.get_tags": ["2.8"],
    "organization.prepare_download_for_get_all": ["2.26"],
    "organization.download_for_get_all": ["2.26"],
    "organization.get_project_workloads": ["2.31"],
    "reports.get_all_ex": ["2.23"],
    "server.report_stats_option": ["2.4"],
    "projects.get_user_names": ["2.26"],
    "projects.get_project_tags": ["2.12"],
    # the tasks table, a task's tabs and the reports page
    "events.get_task_metrics": ["2.7"],
    "projects.get_task_parents": ["2.12"],
    "projects.get_unique_metric_variants": ["2.1"],
    "reports.get_tags": ["2.23"],
    "tasks.get_by_id_ex": ["2.11", "2.15"],
    "tasks.get_types": ["2.8"],
}

# modelreg extensions (docs/ARCHITECTURE.md "Extensions"): the data around a model
MODEL_DATA = {
    "models.get_runs": ["2.99"],
    "models.add_run": ["2.99"],
    "models.get_experiments": ["2.99"],
    "models.get_datasets": ["2.99"],
    **{f"datasets.{a}": ["2.99"] for a in ("create", "get_by_id", "get_all", "get_all_ex", "edit", "delete")},
    **{f"records.{a}": ["2.99"] for a in ("add", "add_many", "get_by_id", "get_all", "edit", "delete", "delete_many",
                                          "upload", "delete_file", "download", "get_series")},
}

UPLOADS = {  # modelreg extension: resumable, content-addressed uploads
    "uploads.start": ["2.99"], "uploads.put_part": ["2.99"], "uploads.get_status": ["2.99"],
    "uploads.complete": ["2.99"], "uploads.abort": ["2.99"], "uploads.exists": ["2.99"],
}

# modelreg extensions: governed promotion (docs/promotion.md)
PROMOTION = {
    **{f"models.{a}": ["2.99"] for a in ("protect_alias", "unprotect_alias", "get_alias_rules", "break_glass_alias",
                                         "get_alias_history")},
    **{f"promotions.{a}": ["2.99"] for a in ("create", "review", "cancel", "get_by_id", "get_all")},
}

# modelreg extension: push delivery of the change log (docs/webhooks.md)
WEBHOOKS = {f"webhooks.{a}": ["2.99"] for a in ("create", "get_all", "edit", "delete", "test", "get_deliveries",
                                                 "redeliver")}

ORCHESTRATION = {"queues.get_all": ["2.4", "2.15", "2.20", "2.21"], "queues.get_all_ex": ["2.4"],
                 "queues.get_queue_metrics": ["2.4"]}

EXPECTED = {**ORCHESTRATION, **MODELS, **AUTH_DEBUG_SERVER, **PROJECTS, **TASKS, **WEBAPP, **EVENTS, **MODEL_DATA,
            **WEBHOOKS, **PROMOTION, **UPLOADS}


@pytest.fixture(scope="module")
def registry():
    registry, problems = load_schemas(SCHEMA_DIR)
    assert not problems, "\n".join(str(p) for p in problems)
    return registry


def validate(registry, endpoint: str, version: tuple[int, int], data: dict) -> tuple[dict, list[str]]:
    """Validates a copy of `data` like the dispatcher does; returns the filled copy and the error messages."""
    resolved = registry.resolve(endpoint, version)
    assert resolved is not None, f"{endpoint} has no version <= {version}"
    filled = dict(data)
    errors = [e.message for e in resolved.validator.iter_errors(filled)]
    return filled, errors


def test_the_schema_folder_loads_without_problems():
    registry, problems = load_schemas(SCHEMA_DIR)
    assert problems == []
    assert registry is not None


@pytest.mark.parametrize("endpoint", sorted(EXPECTED))
def test_each_endpoint_declares_exactly_the_agreed_versions(registry, endpoint):
    assert endpoint in registry.endpoints, f"{endpoint} is not declared"
    assert [v.version_text for v in registry.endpoints[endpoint]] == EXPECTED[endpoint]


def test_no_unexpected_endpoints_in_the_covered_services(registry):
    services = {name.split(".")[0] for name in EXPECTED}
    declared = {name for name in registry.endpoints if name.split(".")[0] in services}
    assert declared - set(EXPECTED) == set()


def test_version_resolution(registry):
    assert registry.resolve("models.make_public", (2, 5)) is None
    assert registry.resolve("models.make_public", (2, 9)).version_text == "2.9"
    assert registry.resolve("models.make_public", (2, 34)).version_text == "2.9"
    assert registry.resolve("models.get_all", (2, 20)).version_text == "2.15"
    assert registry.resolve("models.get_all", (2, 14)).version_text == "2.1"
    assert registry.resolve("models.get_all_ex", (2, 34)).version_text == "2.27"
    assert registry.resolve("models.create", (2, 9)).version_text == "2.1"


def test_internal_flags(registry):
    for name in ("models.get_all_ex", "models.get_by_id_ex"):
        assert all(v.internal for v in registry.endpoints[name])
    assert not any(v.internal for v in registry.endpoints["models.get_all"])


def test_auth_flags(registry):
    assert registry.resolve("debug.ping", (2, 34)).authorize is False
    assert registry.resolve("auth.fixed_users_mode", (2, 34)).authorize is False
    assert registry.resolve("auth.login", (2, 34)).authorize is True
    assert registry.resolve("auth.create_user", (2, 1)).allow_roles == ["system", "root", "admin"]
    assert registry.resolve("auth.create_user", (2, 1)).role_allowed("admin")
    assert not registry.resolve("auth.create_user", (2, 1)).role_allowed("user")
    assert registry.resolve("models.get_all", (2, 1)).allow_roles == ["*"]
    # served from ClearML's registration version (1.0) by its first schema version; nothing below
    assert registry.resolve("auth.create_credentials", (1, 0)).version == (2, 1)
    assert registry.resolve("auth.create_credentials", (0, 9)) is None


def test_server_info_replies_per_version(registry):
    def props(version):
        return set(registry.resolve("server.info", version).response_schema["properties"])

    assert props((1, 0)) == {"version", "build", "commit"}
    assert props((2, 10)) == {"version", "build", "commit", "uid"}
    assert props((2, 34)) == {"version", "build", "commit", "api_version"}


def test_derived_versions_do_not_leak_into_their_base(registry):
    create_21 = registry.resolve("models.create", (2, 1)).request_schema["properties"]
    create_213 = registry.resolve("models.create", (2, 13)).request_schema["properties"]
    # ClearML's map, or the list as an extension
    assert "metadata" not in create_21 and create_213["metadata"]["type"] == ["object", "array", "null"]
    assert set(create_21) < set(create_213)
    get_all_21 = registry.resolve("models.get_all", (2, 1)).request_schema["properties"]
    assert "scroll_id" not in get_all_21 and "filters" not in get_all_21
    newest_ex = registry.resolve("models.get_all_ex", (2, 27)).request_schema["properties"]
    for key in ("name", "tags", "include_stats", "scroll_id", "size", "allow_public", "filters", "page_size"):
        assert key in newest_ex, key
    assert "url" not in registry.resolve("models.delete", (2, 1)).response_schema["properties"]
    assert "url" in registry.resolve("models.delete", (2, 13)).response_schema["properties"]


def test_create_fills_defaults_ready_true_and_public_false(registry):
    filled, errors = validate(registry, "models.create", (2, 1), {"name": "resnet", "uri": "s3://b/k", "method": "get"})
    assert errors == []
    assert filled["ready"] is True and filled["public"] is False
    assert filled["method"] == "get"


def test_create_requires_name_and_uri_and_checks_types(registry):
    _, errors = validate(registry, "models.create", (2, 13), {"name": "resnet"})
    assert any("'uri'" in e for e in errors)
    _, errors = validate(registry, "models.create", (2, 13), {"name": "x", "uri": "u", "labels": {"cat": "one"}})
    assert errors
    _, errors = validate(
        registry,
        "models.create",
        (2, 13),
        {"name": "x", "uri": "u", "metadata": [{"key": "k", "type": "str", "value": "v"}]},
    )
    assert errors == []


def test_get_by_id_rejects_a_missing_model(registry):
    _, errors = validate(registry, "models.get_by_id", (2, 13), {})
    assert errors and "'model' is a required property" in errors[0]
    _, errors = validate(registry, "models.get_by_id", (2, 13), {"model": "abc", "extra": 1})
    assert errors == []


def test_set_ready_and_batch_defaults(registry):
    filled, errors = validate(registry, "models.set_ready", (2, 23), {"model": "m"})
    assert errors == [] and filled["publish_task"] is True and filled["force_publish_task"] is False
    filled, errors = validate(registry, "models.publish_many", (2, 23), {"ids": ["a"]})
    assert errors == [] and filled["publish_task"] is True
    filled, errors = validate(registry, "models.delete_many", (2, 23), {"ids": ["a"]})
    assert errors == [] and filled["force"] is False and filled["delete_external_artifacts"] is True
    _, errors = validate(registry, "models.archive_many", (2, 23), {"ids": []})
    assert errors
    filled, _ = validate(registry, "models.delete", (2, 13), {"model": "m"})
    assert filled["delete_external_artifacts"] is True and filled["force"] is False


def test_query_keys_are_typed_loosely(registry):
    query = {
        "name": "^a$",
        "tags": ["-archived", "__$not", "x"],
        "system_tags": "-archived",
        "project": None,
        "task": ["t1", None],
        "ready": True,
        "metadata.k.value": "v",
        "_any_": {"pattern": "x", "fields": ["name", "comment"]},
        "last_update": [">=2024-01-01T00:00:00", "<2025-01-01"],
        "created": ["2024-01-01T00:00:00", None],
        "order_by": ["-created"],
        "only_fields": ["id", "name"],
        "page": 0,
        "page_size": 10,
        "scroll_id": None,
        "size": 5,
        "filters": {"tags": {"any": {"include": ["a"], "exclude": None}, "op": "and"}},
    }
    _, errors = validate(registry, "models.get_all", (2, 26), query)
    assert errors == []
    _, errors = validate(registry, "models.get_all", (2, 26), {"page": -1})
    assert errors
    _, errors = validate(registry, "models.get_all", (2, 26), {"page_size": 0})
    assert errors
    _, errors = validate(registry, "models.get_all", (2, 26), {"tags": [1]})
    assert errors
    _, errors = validate(registry, "models.get_all", (2, 26), {"metadata.k.value": 3})
    assert errors
    _, errors = validate(registry, "models.get_all", (2, 26), {"page": 2})
    assert errors == [], "page without page_size is allowed, as in ClearML"
    filled, _ = validate(registry, "models.get_all_ex", (2, 27), {})
    assert filled["allow_public"] is True and filled["include_stats"] is False
    assert "scroll_id" not in filled, "scroll_id must not get a default: its presence starts a scroll"


def test_move_accepts_a_null_project(registry):
    _, errors = validate(registry, "models.move", (2, 12), {"ids": ["a"], "project": None})
    assert errors == []
    _, errors = validate(registry, "models.move", (2, 12), {"ids": ["a"], "project_name": None})
    assert errors


def test_edit_ignores_nulls_but_update_and_create_are_typed(registry):
    _, errors = validate(registry, "models.edit", (2, 13), {"model": "m", "comment": None, "metadata": None})
    assert errors == []
    _, errors = validate(registry, "models.update", (2, 13), {"model": "m", "metadata": {"k": "v"}})
    assert errors


def test_model_file_extensions(registry):
    upload = registry.resolve("models.upload", (2, 13))
    assert upload.raw_body and not upload.stream_response
    assert "modelreg" in upload.description
    _, errors = validate(registry, "models.upload", (2, 13), {"model": "m", "sha256": "zz"})
    assert errors
    _, errors = validate(registry, "models.upload", (2, 13), {"model": "m", "sha256": "ab" * 32, "filename": "w.pt"})
    assert errors == []
    assert registry.resolve("models.download", (2, 13)).stream_response


def test_a_model_reply_validates_in_both_shapes(registry):
    model = {
        "id": "a" * 32,
        "name": "resnet",
        "company": "c",
        "user": "u",
        "created": "2024-05-01T12:34:56.789000+00:00",
        "tags": ["a"],
        "system_tags": [],
        "design": {"design": "x"},
        "labels": {"cat": 1},
        "uri": "s3://b/k",
        "ready": True,
        "metadata": {"k": {"key": "k", "type": "str", "value": "v"}},
        "last_iteration": 0,
        "file": {"size": 3, "sha256": "ab" * 32, "content_type": "application/octet-stream", "stored": True},
    }
    reply = registry.resolve("models.get_by_id", (2, 13)).response_validator
    assert list(reply.iter_errors({"model": model})) == []
    ex_model = {**model, "company": {"id": "c"}, "project": {"id": "p", "name": "P"}, "parent": {}}
    reply_ex = registry.resolve("models.get_all_ex", (2, 27)).response_validator
    assert list(reply_ex.iter_errors({"models": [ex_model], "scroll_id": "s"})) == []
    assert list(reply.iter_errors({"model": {**model, "ready": "yes"}}))
    batch = registry.resolve("models.delete_many", (2, 13)).response_validator
    ok = {
        "succeeded": [{"id": "a", "deleted": True, "url": "s3://x"}],
        "failed": [{"id": "b", "error": {"codes": [400, 201], "msg": "Invalid model id", "data": {}}}],
    }
    assert list(batch.iter_errors(ok)) == []


def test_projects_requests_as_the_sdk_sends_them(registry):
    filled, errors = validate(
        registry,
        "projects.get_all",
        (2, 23),
        {
            "name": "^sdk\\-eval$",
            "only_fields": ["id", "name", "last_update"],
            "search_hidden": False,
            "shallow_search": False,
            "method": "get",
        },
    )
    assert errors == []
    filled, errors = validate(registry, "projects.create", (2, 23), {"name": "sdk-eval", "description": ""})
    assert errors == []
    _, errors = validate(registry, "projects.create", (2, 23), {"description": "x"})
    assert errors
    filled, _ = validate(registry, "projects.delete", (2, 23), {"project": "p"})
    assert filled["force"] is False and filled["delete_contents"] is False
    filled, _ = validate(registry, "projects.get_model_metadata_keys", (2, 23), {"project": "p"})
    assert filled["include_subprojects"] is True and filled["page"] == 0 and filled["page_size"] == 500
    filled, _ = validate(registry, "projects.get_all_ex", (2, 23), {})
    assert filled["include_stats"] is False and filled["check_own_contents"] is False


def test_tasks_requests_as_the_sdk_sends_them(registry):
    v = (2, 23)
    _, errors = validate(
        registry,
        "tasks.create",
        v,
        {"name": "t1", "project": "p", "type": "training", "system_tags": ["development"], "comment": "c"},
    )
    assert errors == []
    _, errors = validate(registry, "tasks.create", v, {"name": "t1", "type": "nonsense"})
    assert errors
    filled, errors = validate(registry, "tasks.started", v, {"task": "t"})
    assert errors == [] and filled["force"] is False
    filled, errors = validate(
        registry, "tasks.completed", v, {"task": "t", "force": False, "status_reason": "completed", "publish": False}
    )
    assert errors == []
    filled, _ = validate(registry, "tasks.completed", v, {"task": "t"})
    assert filled["publish"] is False
    filled, errors = validate(
        registry, "tasks.reset", v, {"task": "t", "force": False, "clear_all": False, "delete_external_artifacts": True}
    )
    assert errors == [] and filled["delete_output_models"] is True and filled["return_file_urls"] is False
    filled, _ = validate(registry, "tasks.publish", v, {"task": "t"})
    assert filled["publish_model"] is True and filled["force"] is False
    filled, _ = validate(registry, "tasks.delete", v, {"task": "t"})
    assert filled["delete_output_models"] is True and filled["force"] is False
    edit = {
        "task": "t",
        "force": True,
        "script": {"repository": "", "entry_point": "train.py", "requirements": {"pip": "numpy\n"}},
        "hyperparams": {"Args": {"lr": {"section": "Args", "name": "lr", "value": "0.1", "type": "float"}}},
        "configuration": {"General": {"name": "General", "value": "a = 1", "type": "dictionary"}},
        "runtime": {"gpu": 0},
        "output_dest": "http://files",
        "execution": {"model_labels": {"cat": 1}},
        "models": {"input": [], "output": [{"name": "w", "model": "m"}]},
    }
    _, errors = validate(registry, "tasks.edit", v, edit)
    assert errors == []
    _, errors = validate(
        registry, "tasks.add_or_update_model", v, {"task": "t", "name": "w", "model": "m", "type": "output"}
    )
    assert errors == []
    _, errors = validate(
        registry, "tasks.add_or_update_model", v, {"task": "t", "name": "w", "model": "m", "type": "x"}
    )
    assert errors
    _, errors = validate(
        registry, "tasks.set_requirements", v, {"task": "t", "requirements": {"pip": "x", "conda": None}}
    )
    assert errors == []
    _, errors = validate(
        registry,
        "tasks.get_all",
        v,
        {"id": ["t"], "only_fields": ["status", "status_message", "id"], "search_hidden": False},
    )
    assert errors == []


def test_a_task_reply_must_have_an_output_object(registry):
    reply = registry.resolve("tasks.get_by_id", (2, 23)).response_validator
    task = {
        "id": "t",
        "name": "t1",
        "status": "created",
        "project": "p",
        "output": {},
        "execution": {},
        "script": {},
        "hyperparams": {},
        "configuration": {},
        "runtime": {},
        "last_iteration": 0,
        "models": {"input": [], "output": [{"name": "w", "model": "m", "updated": "2024-05-01T12:00:00+00:00"}]},
    }
    assert list(reply.iter_errors({"task": task})) == []
    assert list(reply.iter_errors({"task": {**task, "output": None}}))


def test_events(registry):
    add_batch = registry.resolve("events.add_batch", (2, 23))
    assert add_batch.batch
    item = {
        "timestamp": 1714567890123,
        "type": "log",
        "task": "t",
        "level": "info",
        "worker": "host",
        "msg": "hello",
        "model_event": False,
        "allow_locked": False,
    }
    assert list(add_batch.validator.iter_errors(dict(item))) == []
    filled, errors = validate(registry, "events.get_task_log", (2, 23), {"task": "t"})
    assert errors == [] and filled["batch_size"] == 500 and filled["navigate_earlier"] is True


def test_record_endpoints_declare_their_body_and_stream_forms(registry):
    add = registry.resolve("records.add", (2, 99))
    assert add.form_body and not add.raw_body
    assert registry.resolve("records.upload", (2, 99)).raw_body
    assert registry.resolve("records.get_all", (2, 99)).stream_formats == ("ndjson",)
    assert registry.resolve("records.download", (2, 99)).stream_response
    assert registry.resolve("records.get_all", (2, 34)) is None
