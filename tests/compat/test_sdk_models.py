"""The real ClearML SDK against a running server (gunicorn), driven in a subprocess.

The script below runs the SDK's model workflows and prints what the SDK returned as one JSON line; the
test checks that and what the server stored.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from database import connection

# one worker builds the module's servers (--dist loadgroup), not every worker that gets one of its tests
pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("sdk_models")]

MARK = "SDK-RESULT "

SCRIPT = textwrap.dedent('''
    import json
    import sys

    from clearml import InputModel, Model

    out = {}
    weights = "s3://sdk-bucket/models/resnet-sdk.pt"
    imported = InputModel.import_model(
        weights_url=weights, name="sdk-resnet", project="sdk-project/vision", tags=["sdk", "vision"],
        framework="PyTorch", config_dict={"layers": 3, "act": "relu"}, label_enumeration={"cat": 1, "dog": 2},
        comment="imported by the sdk",
    )
    out["import"] = {
        "id": imported.id, "name": imported.name, "url": imported.url, "tags": list(imported.tags),
        "framework": imported.framework, "published": imported.published, "labels": dict(imported.labels),
        "config_dict": imported.config_dict, "project": imported.project, "comment": imported.comment,
    }
    again = InputModel.import_model(weights_url=weights, name="sdk-resnet")
    out["reimport_id"] = again.id

    model = Model(imported.id)
    out["set_metadata"] = model.set_metadata("accuracy", "0.93", "float")
    model.set_metadata("data.set", "imagenet")
    reread = Model(imported.id)
    out["get_metadata"] = reread.get_metadata("accuracy")
    out["all_metadata"] = reread.get_all_metadata()

    model.tags = ["sdk", "vision", "best"]
    model.comment = "changed by the sdk"
    reread = Model(imported.id)
    out["after_setters"] = {"tags": list(reread.tags), "comment": reread.comment}

    def query(**kw):
        return sorted(m.id for m in Model.query_models(**kw))

    out["q_project"] = query(project_name="sdk-project/vision")
    out["q_name"] = query(model_name="sdk-resnet")
    out["q_other_name"] = query(model_name="sdk-res")
    out["q_tags"] = query(project_name="sdk-project/vision", tags=["best"])
    out["q_tags_missing"] = query(tags=["never-used"])
    out["q_meta"] = query(metadata={"accuracy": "0.93"})
    out["q_meta_miss"] = query(metadata={"accuracy": "0.5"})
    out["q_published_before"] = query(model_name="sdk-resnet", only_published=True)

    model.publish()
    out["published"] = Model(imported.id).published
    out["q_published_after"] = query(model_name="sdk-resnet", only_published=True)

    model.archive()
    out["q_archived_hidden"] = query(model_name="sdk-resnet")
    out["q_archived_included"] = query(model_name="sdk-resnet", include_archived=True)
    out["system_tags_archived"] = list(Model(imported.id).system_tags)
    model.unarchive()
    out["q_unarchived"] = query(model_name="sdk-resnet")

    extra = InputModel.import_model(weights_url="s3://sdk-bucket/models/other.pt", name="sdk-other",
                                    project="sdk-project/vision")
    out["extra_id"] = extra.id
    out["removed"] = Model.remove(extra.id, delete_weights_file=False, force=True)
    out["q_after_remove"] = query(project_name="sdk-project/vision")
    print(sys.argv[1] + json.dumps(out, default=str))
    sys.stdout.flush()
''')


@pytest.fixture(scope="module")
def sdk_run(live_server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sdk")
    proc = subprocess.run([sys.executable, "-c", SCRIPT, MARK], env=live_server.sdk_env(tmp), cwd=tmp,
                          capture_output=True, text=True, timeout=300)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(MARK)]
    assert proc.returncode == 0 and lines, f"SDK script failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n" \
                                           f"{proc.stderr[-5000:]}"
    db = connection.connect(live_server.mongo_uri, live_server.database)
    yield json.loads(lines[-1][len(MARK):]), db
    db.client.close()


def test_import_model_and_its_properties(sdk_run, live_server):
    out, db = sdk_run
    imported = out["import"]
    assert imported["name"] == "sdk-resnet" and imported["url"] == "s3://sdk-bucket/models/resnet-sdk.pt"
    assert sorted(imported["tags"]) == ["sdk", "vision"] and imported["framework"] == "PyTorch"
    assert imported["published"] is False and imported["labels"] == {"cat": 1, "dog": 2}
    assert imported["config_dict"] == {"layers": 3, "act": "relu"} and imported["comment"] == "imported by the sdk"
    project = db["projects"].find_one({"name": "sdk-project/vision"})
    assert imported["project"] == project["_id"] and project["company"] == live_server.company
    assert out["reimport_id"] == imported["id"]  # the SDK finds the existing model by its uri
    doc = db["models"].find_one({"_id": imported["id"]})
    assert doc["company"] == live_server.company and doc["uri"] == "s3://sdk-bucket/models/resnet-sdk.pt"
    assert "layers" in doc["design"]["design"] and doc["labels"] == {"cat": 1, "dog": 2}


def test_metadata_round_trip(sdk_run):
    out, db = sdk_run
    assert out["set_metadata"] is True and out["get_metadata"] == "0.93"
    assert out["all_metadata"]["accuracy"]["value"] == "0.93" and out["all_metadata"]["data.set"]["value"] == "imagenet"
    stored = db["models"].find_one({"_id": out["import"]["id"]})["metadata"]
    assert stored["accuracy"] == {"key": "accuracy", "type": "float", "value": "0.93"}
    assert stored["data%2Eset"]["key"] == "data.set"  # dotted keys are stored escaped


def test_setters_write_through_models_edit(sdk_run):
    out, db = sdk_run
    assert sorted(out["after_setters"]["tags"]) == ["best", "sdk", "vision"]
    assert out["after_setters"]["comment"] == "changed by the sdk"
    doc = db["models"].find_one({"_id": out["import"]["id"]})
    assert doc["tags"] == ["best", "sdk", "vision"] and doc["comment"] == "changed by the sdk"


def test_query_models_filters(sdk_run):
    out, _ = sdk_run
    model_id = out["import"]["id"]
    assert out["q_project"] == [model_id]  # queried before the second model existed
    assert out["q_name"] == [model_id] and out["q_other_name"] == []  # names are anchored, escaped regexes
    assert out["q_tags"] == [model_id] and out["q_tags_missing"] == []
    assert out["q_meta"] == [model_id] and out["q_meta_miss"] == []


def test_publish_archive_unarchive(sdk_run):
    out, db = sdk_run
    model_id = out["import"]["id"]
    assert out["q_published_before"] == [] and out["published"] is True
    assert out["q_published_after"] == [model_id]
    assert out["q_archived_hidden"] == [] and out["q_archived_included"] == [model_id]
    assert "archived" in out["system_tags_archived"] and out["q_unarchived"] == [model_id]
    doc = db["models"].find_one({"_id": model_id})
    assert doc["ready"] is True and "archived" not in doc["system_tags"]


def test_model_remove(sdk_run):
    out, db = sdk_run
    assert out["removed"] is True and out["q_after_remove"] == [out["import"]["id"]]
    assert db["models"].find_one({"_id": out["extra_id"]}) is None
