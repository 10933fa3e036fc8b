"""Pages of models.get_all are kept per process while no model changed (database/query/page_cache.py): a write
through the API, on this process or another, is seen by the next listing; companies never share pages."""

from __future__ import annotations

import uuid

import pytest

from database.collections import generations
from server.http.app import build_state, create_app
from tests.helpers import COMPANY_A, COMPANY_B, app_with, make_user

V = "2.13"
LISTING = {"tags": ["prod"], "order_by": ["name"], "only_fields": ["name", "comment", "tags"]}


def names(client, body=LISTING) -> list[str]:
    return [m["name"] for m in client.ok("models.get_all", body, version=V)["models"]]


def _insert_around_the_api(db, name: str) -> None:
    """What a migration script would do: no generation change, so only a kept page hides it."""
    db["models"].insert_one({"_id": uuid.uuid4().hex, "company": COMPANY_A, "name": name, "tags": ["prod"],
                             "system_tags": [], "uri": "file:///x"})


@pytest.fixture
def alice(app):
    return make_user(app, "alice", COMPANY_A, role="admin")


def create(client, name: str, tags=("prod",)) -> str:
    return client.ok("models.create", {"name": name, "uri": f"file:///{name}", "tags": list(tags)}, version=V)["id"]


def test_a_page_is_kept_until_the_collection_changes(alice, db):
    create(alice, "model one")
    assert names(alice) == ["model one"]
    _insert_around_the_api(db, "sneaked in")
    assert names(alice) == ["model one"]  # the kept page
    assert names(alice, {**LISTING, "page": 0, "page_size": 10}) == ["model one", "sneaked in"]  # another query
    generations.bump(db, "models")  # what every write through the API does
    assert names(alice) == ["model one", "sneaked in"]


def test_every_kind_of_write_through_the_api_is_seen_by_the_next_listing(alice):
    first = create(alice, "model one")
    assert names(alice) == ["model one"]
    second = create(alice, "model two")
    assert names(alice) == ["model one", "model two"]
    alice.ok("models.edit", {"model": first, "name": "model zero"}, version=V)
    assert names(alice) == ["model two", "model zero"]
    alice.ok("models.update", {"model": second, "tags": ["staging"]}, version=V)
    assert names(alice) == ["model zero"]

    def metadata():  # (shown from 2.17 on)
        return alice.ok("models.get_all", {"tags": ["prod"], "only_fields": ["metadata"]}, version="2.23")[
            "models"][0].get("metadata") or {}

    assert metadata() == {}
    alice.ok("models.add_or_update_metadata", {"model": first, "metadata": [{"key": "k", "value": "v", "type": "str"}]},
             version=V)
    assert metadata()["k"]["value"] == "v"
    alice.ok("models.archive_many", {"ids": [first]}, version=V)
    assert names(alice, {**LISTING, "system_tags": ["-archived"]}) == []
    alice.ok("models.delete", {"model": first, "force": True}, version=V)
    assert names(alice) == []


def test_a_write_on_another_host_is_seen_at_once(app_config, registry, db, alice, app):
    other_host = create_app(app_config, build_state(app_config, registry))
    try:
        bob_there = make_user(other_host, "alice2", COMPANY_A, role="admin")
        model = create(alice, "model one")
        assert names(alice) == ["model one"]
        bob_there.ok("models.edit", {"model": model, "name": "renamed there"}, version=V)
        assert names(alice) == ["renamed there"]
    finally:
        other_host.modelreg_state.stores.db.client.close()


def test_companies_never_share_a_page(alice, app):
    bob = make_user(app, "bob", COMPANY_B)
    create(alice, "alices model")
    assert names(alice) == ["alices model"]
    assert names(bob) == []
    create(bob, "bobs model")
    assert names(bob) == ["bobs model"] and names(alice) == ["alices model"]


def test_scrolling_is_never_served_from_kept_pages(alice, db):
    create(alice, "model one")
    first = alice.ok("models.get_all", {**LISTING, "scroll_id": "", "size": 10}, version=V)
    _insert_around_the_api(db, "sneaked in")
    again = alice.ok("models.get_all", {**LISTING, "scroll_id": "", "size": 10}, version=V)
    assert [m["name"] for m in first["models"]] == ["model one"]
    assert [m["name"] for m in again["models"]] == ["model one", "sneaked in"]


def test_kept_pages_can_be_turned_off(app_config, registry, db):
    with app_with(app_config, registry, {"query.page_cache_entries": 0}) as uncached:
        alice = make_user(uncached, "alice", COMPANY_A, role="admin")
        create(alice, "model one")
        assert names(alice) == ["model one"]
        _insert_around_the_api(db, "sneaked in")
        assert names(alice) == ["model one", "sneaked in"]
