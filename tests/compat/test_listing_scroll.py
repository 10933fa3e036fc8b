"""Scrolling is one behaviour on every ClearML listing (services/shared/listing.py), as in the ClearML
server's GetMixin: `scroll_id` is in the reply exactly when the request has that key, a null or unknown id
starts a scroll at the first document, each call continues where the last one stopped, `size` is required,
and another company's scroll id is unknown to the caller."""

from __future__ import annotations

import pytest

from tests.helpers import codes

V = "2.23"
NAMES = [f"scroll-{n}" for n in range(5)]
CREATE = {
    "models": lambda name: ("models.create", {"name": name, "uri": f"file:///{name}"}),
    "tasks": lambda name: ("tasks.create", {"name": name, "type": "training"}),
    "projects": lambda name: ("projects.create", {"name": name, "description": ""}),
}
LISTINGS = [(resource, f"{resource}.{action}") for resource in CREATE for action in ("get_all", "get_all_ex")]


@pytest.mark.parametrize(("resource", "endpoint"), LISTINGS)
def test_scroll_id_is_replied_exactly_when_the_request_scrolls(client, other_client, resource, endpoint):
    for name in NAMES:
        client.ok(*CREATE[resource](name), version=V)
    query = {"size": 2, "order_by": ["name"], "only_fields": ["name"], "name": "^scroll-"}

    def names(reply: dict) -> list[str]:
        return [d["name"] for d in reply[resource]]

    plain = client.ok(endpoint, {"order_by": ["name"], "only_fields": ["name"], "name": "^scroll-"}, version=V)
    assert "scroll_id" not in plain and names(plain) == NAMES

    first = client.ok(endpoint, {**query, "scroll_id": None}, version=V)
    assert names(first) == NAMES[:2] and first["scroll_id"]
    second = client.ok(endpoint, {**query, "scroll_id": first["scroll_id"]}, version=V)
    third = client.ok(endpoint, {**query, "scroll_id": second["scroll_id"]}, version=V)
    assert names(second) == NAMES[2:4] and names(third) == NAMES[4:]
    assert second["scroll_id"] == first["scroll_id"] == third["scroll_id"]
    done = client.ok(endpoint, {**query, "scroll_id": third["scroll_id"]}, version=V)
    assert done[resource] == [] and done["scroll_id"] == first["scroll_id"]

    unknown = client.ok(endpoint, {**query, "scroll_id": "no-such-scroll"}, version=V)
    assert names(unknown) == NAMES[:2] and unknown["scroll_id"] not in ("no-such-scroll", first["scroll_id"])
    # another company's scroll starts anew: it neither continues nor moves this company's scroll
    foreign = other_client.ok(endpoint, {**query, "scroll_id": first["scroll_id"]}, version=V)
    assert foreign[resource] == [] and foreign["scroll_id"] != first["scroll_id"]
    assert names(client.ok(endpoint, {**query, "scroll_id": first["scroll_id"], "refresh_scroll": True},
                           version=V)) == NAMES

    assert codes(client.error(endpoint, {"scroll_id": None}, version=V)) == (400, 12)
