"""models.get_registered: the company's registered models by name, a page at a time, with the last
version number and live aliases; a literal, case-blind name search; scoped to the caller's company."""

from __future__ import annotations

from tests.helpers import codes

V = "2.99"


def create(client, name, project=None) -> str:
    body = {"name": name, "uri": "file:///tmp/m.pt", **({"project": project} if project else {})}
    return client.ok("models.create", body, version="2.13")["id"]


def listing(client, **request) -> dict:
    return client.ok("models.get_registered", request, version=V)


def test_pages_by_name_with_last_version_and_aliases(client):
    project = client.ok("projects.create", {"name": "vision team"}, version="2.13")["id"]
    create(client, "beta")
    second = [create(client, "alpha"), create(client, "alpha")][-1]
    create(client, "alpha", project)
    doomed = create(client, "gamma")
    client.ok("models.set_alias", {"model": second, "alias": "champion"}, version=V)
    client.ok("models.set_alias", {"model": doomed, "alias": "stale"}, version=V)
    client.ok("models.delete", {"model": doomed}, version="2.13")

    reply = listing(client, page_size=2)
    assert reply["total"] == 4
    first = reply["registered"]
    assert sorted((r["name"], r["last_version"]) for r in first) == [("alpha", 1), ("alpha", 2)]
    root = next(r for r in first if r["project"] is None)
    assert root["aliases"] == {"champion": second}
    rest = listing(client, page=1, page_size=2)["registered"]
    assert [r["name"] for r in rest] == ["beta", "gamma"]
    assert rest[1]["aliases"] == {}  # the aliased version was deleted
    assert [r["name"] for r in listing(client, search="ALP")["registered"]] == ["alpha", "alpha"]
    assert listing(client, search=".*")["total"] == 0  # literal, not a pattern
    in_project = listing(client, project=project)
    assert in_project["total"] == 1 and in_project["registered"][0]["project"] == project
    assert listing(client, project=None)["total"] == 3


def test_other_companies_and_bad_input(client, other_client):
    create(client, "secret model")
    assert listing(other_client)["total"] == 0
    project = client.ok("projects.create", {"name": "hidden team"}, version="2.13")["id"]
    assert codes(other_client.error("models.get_registered", {"project": project}, version=V))[0] == 400
    meta = client.error("models.get_registered", {"page_size": 101}, version=V)
    assert codes(meta) == (400, 12) and "page_size" in meta["result_msg"]
    assert client.call("models.get_registered", {}, version="2.34").status_code == 404
