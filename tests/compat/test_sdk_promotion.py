"""The real ClearML SDK on a published version under an alias protection rule: reads, tags, comment
and metadata keep working; the frozen file stays what it was."""

from __future__ import annotations

import textwrap

import pytest
import requests

pytestmark = pytest.mark.e2e

SCRIPT = textwrap.dedent('''
    import json, sys
    from clearml import Model

    model_id = sys.argv[1]
    model = Model(model_id)
    out = {"name": model.name, "url": model.url, "published": model.published, "labels": dict(model.labels)}
    model.tags = ["governed", "reviewed"]
    model.comment = "described by the sdk"
    model.set_metadata("auc", "0.91", "float")
    again = Model(model_id)
    out.update(tags=sorted(again.tags), comment=again.comment, auc=again.get_metadata("auc"),
               found=[m.id for m in Model.query_models(model_name="sdk-governed")])
    print("RESULT " + json.dumps(out))
''')


def _api(live_server, endpoint: str, data: dict, version: str = "2.99") -> dict:
    reply = requests.post(f"{live_server.url}/v{version}/{endpoint}", json=data,
                          auth=(live_server.access_key, live_server.secret_key), timeout=30)
    assert reply.status_code == 200, reply.text
    return reply.json()["data"]


def test_the_sdk_reads_tags_and_describes_a_protected_version(live_server, tmp_path):
    model = _api(live_server, "models.create", {"name": "sdk-governed", "uri": "s3://b/governed.pt", "ready": True,
                                                "labels": {"cat": 1}})["id"]
    _api(live_server, "models.protect_alias", {"name": "sdk-governed", "alias": "production",
                                               "reviewers": {"roles": ["admin"]}})
    result = live_server.run_sdk_script(tmp_path, SCRIPT, model)
    assert result["url"] == "s3://b/governed.pt" and result["published"] is True
    assert result["tags"] == ["governed", "reviewed"] and result["comment"] == "described by the sdk"
    assert result["auc"] == "0.91" and result["found"] == [model] and result["labels"] == {"cat": 1}
    stored = _api(live_server, "models.get_by_id", {"model": model})["model"]
    assert stored["uri"] == "s3://b/governed.pt" and stored["labels"] == {"cat": 1}
