"""Query specs completed from the schema files: a filter declared in a get_all request schema is served
by the query engine without code (database/query/specs.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

from database.collections import models_db
from database.query import specs as query_specs
from server.contract.schema_registry import load_registry
from server.http.app import build_state, create_app
from services.handlers import all_handlers
from tests.helpers import make_user, schema_specs

SHIPPED = Path(__file__).resolve().parents[2] / "schema" / "services"
# An operator declares `last_changed_by` (who last wrote a model) as a list filter of get_all.
NEW_FILTER = """
get_all {
    "2.35": ${get_all."2.26"} {
        description: "Also filters on who last changed a model"
        request.properties.last_changed_by { "$ref": "#/definitions/list_filter" }
    }
}
"""


def test_declared_filters_are_read_from_the_schema():
    schema = {"properties": {"tags": {"$ref": "#/definitions/list_filter"},
                             "created": {"$ref": "#/definitions/date_filter"},
                             "size": {"$ref": "#/definitions/range_filter"}, "name": {"type": "string"}},
              "patternProperties": {"^metadata[.]": {"$ref": "#/definitions/list_filter"}}}
    assert query_specs.declared_filters(schema) == {
        "list_fields": {"tags", "metadata.*"}, "range_fields": {"size"}, "datetime_fields": {"created"}}
    spec = query_specs.complete(models_db.SPEC, [schema])
    assert {"tags", "metadata.*"} <= spec.list_fields and "size" in spec.range_fields
    assert "created" not in spec.datetime_fields  # models' created keeps its [min, max] reading
    assert spec.pattern_fields == models_db.SPEC.pattern_fields


def test_the_shipped_schemas_give_the_filters_the_engine_serves():
    models = schema_specs()["models"]
    assert {"tags", "system_tags", "project", "parent", "id", "metadata.*"} <= models.list_fields
    assert {"last_update", "last_change"} <= models.datetime_fields
    assert {"created", "last_iteration", "last_metrics.*"} <= models.range_fields
    assert {"status", "type", "tags"} <= schema_specs()["tasks"].list_fields


def test_a_filter_declared_in_a_schema_file_is_served_without_code(app_config, db, tmp_path):
    copy = tmp_path / "services"
    shutil.copytree(SHIPPED, copy)
    with open(copy / "models.conf", "a") as conf:
        conf.write(NEW_FILTER)
    app = create_app(app_config, build_state(app_config, load_registry(copy, all_handlers().keys())))
    alice = make_user(app, "alice", "company_spec_" + "0" * 19, role="admin")
    carol = make_user(app, "carol", "company_spec_" + "0" * 19)
    mine = alice.ok("models.create", {"name": "by-alice", "uri": "u"}, version="2.13")["id"]
    carol.ok("models.create", {"name": "by-carol", "uri": "u"}, version="2.13")
    found = alice.ok("models.get_all", {"last_changed_by": [alice.identity["user"]], "only_fields": ["id"]},
                     version="2.35")["models"]
    assert [m["id"] for m in found] == [mine]
    app.modelreg_state.stores.db.client.close()
