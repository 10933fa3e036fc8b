"""get_versions and get_latest list the company's own versions and the ones it made public, merged newest
first, and never another company's public model of the same name (read as two index lookups, not one
`$or`: database/collections/model_versions_db.py)."""

from __future__ import annotations

X = "2.99"
NAME = "shared versions"


def _create(client, ready=True) -> str:
    return client.ok("models.create", {"name": NAME, "uri": "s3://b/m.pt", "ready": ready}, version="2.13")["id"]


def test_shared_versions_are_merged_in_order_and_paged(client, other_client):
    ids = [_create(client, ready=n != 4) for n in range(5)]  # versions 1..5, the newest not ready
    client.ok("models.make_public", {"ids": [ids[1], ids[3]]}, version="2.9")
    foreign = _create(other_client)  # another company's version 1 of the same name, made public
    other_client.ok("models.make_public", {"ids": [foreign]}, version="2.9")

    listed = client.ok("models.get_versions", {"name": NAME, "page_size": 100}, version=X)
    assert [m["id"] for m in listed["models"]] == ids[::-1] and listed["total"] == 5
    pages = [client.ok("models.get_versions", {"name": NAME, "page": p, "page_size": 2}, version=X)
             for p in range(3)]
    assert [m["id"] for page in pages for m in page["models"]] == ids[::-1]
    assert {page["total"] for page in pages} == {5}
    assert client.ok("models.get_latest", {"name": NAME}, version=X)["model"]["id"] == ids[4]
    assert client.ok("models.get_latest", {"name": NAME, "ready_only": True}, version=X)["model"]["id"] == ids[3]
    theirs = other_client.ok("models.get_versions", {"name": NAME}, version=X)
    assert [m["id"] for m in theirs["models"]] == [foreign] and theirs["total"] == 1
    assert all("company_origin" not in m for m in listed["models"])


def test_moving_an_alias_off_a_shared_version_updates_its_copy(client):
    first, second = _create(client), _create(client)
    client.ok("models.set_alias", {"model": first, "alias": "champion"}, version=X)
    client.ok("models.make_public", {"ids": [first]}, version="2.9")
    client.ok("models.set_alias", {"model": second, "alias": "champion"}, version=X)
    copies = {m: client.ok("models.get_by_id", {"model": m}, version=X)["model"].get("aliases")
              for m in (first, second)}
    assert copies == {first: [], second: ["champion"]}
