"""`projects.get_model_metadata_keys` without `project`: the keys of all the company's models.

Read from clearml-server apiserver/services/projects.py `get_model_metadata_keys` (passes
`project_ids=None` when the request has no project, although apiserver/schema/services/projects.conf
lists `project` as required) and apiserver/bll/project/project_queries.py `get_model_metadata_keys`.
"""

from __future__ import annotations

from tests.helpers import codes

V = "2.23"


def _model_with(client, name: str, project: str | None, key: str) -> None:
    data = {"name": name, "uri": f"file:///{name}", **({"project": project} if project else {})}
    mid = client.ok("models.create", data, version=V)["id"]
    client.ok("models.add_or_update_metadata",
              {"model": mid, "metadata": [{"key": key, "type": "str", "value": "v"}]}, version=V)


def test_without_project_every_model_of_the_company_counts(client, other_client):
    pid = client.ok("projects.create", {"name": "meta-keys-all", "description": ""}, version=V)["id"]
    _model_with(client, "in-project", pid, "in_project")
    _model_with(client, "no-project", None, "root_key")
    _model_with(other_client, "elsewhere", None, "other_company_key")
    keys = client.ok("projects.get_model_metadata_keys", {}, version=V)
    assert keys == {"keys": ["in_project", "root_key"], "remaining": 0, "total": 2}
    paged = client.ok("projects.get_model_metadata_keys", {"page": 1, "page_size": 1}, version=V)
    assert paged == {"keys": ["root_key"], "remaining": 0, "total": 2}
    assert client.ok("projects.get_model_metadata_keys", {"project": pid}, version=V)["keys"] == ["in_project"]


def test_an_unknown_project_still_answers_no_keys(client):
    reply = client.ok("projects.get_model_metadata_keys", {"project": "no-such-project"}, version=V)
    assert reply == {"keys": [], "remaining": 0, "total": 0}
    assert codes(client.error("projects.get_model_metadata_keys", {"project": 5}, version=V)) == (400, 12)
