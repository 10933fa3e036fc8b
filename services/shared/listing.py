"""The one get_all / get_all_ex of every listed resource (models, tasks, projects, datasets, records): the
request in the query engine's terms, one page of the resource's scoped collection, the reply. What differs
between resources is data, a `Listing` that each resource's module declares; nothing here asks which
resource it serves.

The rules, as the ClearML server applies them to every get_all (its GetMixin):
- below 2.3, system tags sent in `tags` filter `system_tags` (services/shared/legacy_tags.py);
- a resource with a hidden tag leaves hidden documents out unless `search_hidden` or `id` is sent;
- get_all reads own and public documents; get_all_ex public ones only while `allow_public` (default true,
  or the resource's older negated flag when `allow_public` is absent);
- get_all_ex shows reference fields as `{"id": ...}`, `only_fields: ["project.name"]` joins the referenced
  document's field, and `id` comes back whenever fields are listed;
- `scroll_id` is in the reply exactly when the request has that key (null starts a scroll): the query
  engine hands back a scroll id then and only then.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from database.collections.scope import Scope
from database.collections.scoped import ScopedCollection
from database.query.specs import QuerySpec
from services.call import Call
from services.shared import legacy_tags, references

Docs = list[dict]


def _as_stored(call: Call, docs: Docs) -> Docs:
    return docs


def _models(scope: Scope) -> ScopedCollection:
    return scope.models


@dataclass(frozen=True)
class Listing:
    """One resource's listing, as data."""

    reply_key: str  # the reply's list: "models"
    scoped: Callable[[Scope], ScopedCollection]  # the scoped collection listed: `lambda scope: scope.models`
    system_tags: frozenset[str] = frozenset()  # system tags that clients below 2.3 send in `tags`
    hidden_tag: str | None = None  # documents with this system tag are listed only when asked for
    negated_public_flag: str | None = None  # the older get_all_ex flag read when `allow_public` is absent
    reference_fields: tuple[str, ...] = ()  # shown as {"id": ...} and joinable in get_all_ex
    parents: references.ParentLookup = _models  # the resource a `parent` reference names
    # the resource's own request terms, adjusted in place; returns conditions to add (or None)
    prepare: Callable[[Call, dict, bool], dict | None] | None = None
    shape: Callable[[Call, Docs], Docs] = _as_stored  # each page's documents as the API shows them
    extend: Callable[[Call, dict, Docs], None] | None = None  # what get_all_ex adds, given the request


# The listings other features read through (organization.download_for_get_all exports "models" and
# "tasks" pages exactly as their get_all_ex serves them): each resource's handler module registers its own
# at import, so no module imports a handler module.
LISTINGS: dict[str, Listing] = {}


def register(name: str, listing: Listing) -> Listing:
    LISTINGS[name] = listing
    return listing


def _check_listed_fields(spec: QuerySpec, only_fields) -> None:
    """Each `only_fields` name as sent, by the query engine's rule for a field path: joined names
    (`project.name`, `models.input.model.name`) leave the list before the engine sees it, and their
    sub-field becomes a projection of another collection. A list of anything else is the engine's to refuse."""
    if isinstance(only_fields, list):
        for name in only_fields:
            bare = name[1:] if isinstance(name, str) and name.startswith("-") else name
            if isinstance(bare, str) and bare:
                spec.check_known(bare)


def request(call: Call, listing: Listing, *, extended: bool) -> tuple[dict, dict | None, bool, dict]:
    """The request as the query engine reads it: (data, extra conditions, allow_public, joins)."""
    data = dict(call.data)
    _check_listed_fields(listing.scoped(call.scope).spec, data.get("only_fields"))
    if listing.system_tags:
        legacy_tags.split_request_tags(call, data, listing.system_tags)
    extra: dict = {}
    if listing.hidden_tag and not (data.get("search_hidden") or data.get("id")):
        extra["system_tags"] = {"$ne": listing.hidden_tag}
    if listing.prepare is not None:
        extra.update(listing.prepare(call, data, extended) or {})
    allow_public, joins = True, {}
    if extended:
        if "allow_public" in data:
            allow_public = bool(data["allow_public"])
        elif listing.negated_public_flag:
            allow_public = not data.get(listing.negated_public_flag)
        only_fields, joins = references.split_joins(data.get("only_fields"), listing.reference_fields)
        if only_fields is not None:
            data["only_fields"] = only_fields
    return data, extra or None, allow_public, joins


def page(call: Call, listing: Listing, *, extended: bool) -> dict:
    """The reply of `<resource>.get_all` (or get_all_ex, `extended`)."""
    data, extra, allow_public, joins = request(call, listing, extended=extended)
    docs, scroll_id = listing.scoped(call.scope).find_page(data, allow_public=allow_public, extra=extra)
    docs = listing.shape(call, docs)
    if extended:
        if listing.reference_fields:
            docs = references.with_references(call, docs, listing.reference_fields, joins, parents=listing.parents)
        if listing.extend is not None:
            listing.extend(call, data, docs)
    reply: dict = {listing.reply_key: docs}
    if scroll_id is not None:
        reply["scroll_id"] = scroll_id
    return reply
