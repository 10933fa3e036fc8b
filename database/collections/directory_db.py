"""The users of one company as other users see them (names and ids for listings and filters), and
the company's name. The credential side of users (key pairs, roles, tokens) is database/collections/users_db.py's.

Users are never public: a company sees its own users only, whatever the caller's role.
"""

from __future__ import annotations

from collections.abc import Iterable

from database.collections.scoped import Resource, ScopedCollection
from database.collections.users_db import USERS
from database.query import engine

SPEC = engine.QuerySpec(
    list_fields=frozenset({"id"}),
    pattern_fields=frozenset({"name"}),
    datetime_fields=frozenset({"created"}),
    text_fields=("name", "id"),
    # kept on user documents for tokens; the API shows a company as an id (or {id, name} for the caller)
    hidden_fields=frozenset({"company_name"}),
    known_fields=frozenset({"id", "name", "given_name", "family_name", "company", "role", "created", "email",
                            "avatar"}),
    # the embedded server's clause order (database/query/shape.py)
    narrow_first=("name",),
)
RESOURCE = Resource("users", USERS, SPEC, hidden_fields=("company_name",), shareable=False)


class Users(ScopedCollection):
    resource = RESOURCE

    def company_name(self) -> str:
        """The caller's company's name, as recorded on its users (a company has no document of its own)."""
        doc = self.find_one({"company_name": {"$nin": [None, ""]}}, {"company_name": 1})
        return (doc or {}).get("company_name") or ""

    def names(self, user_ids: Iterable[str]) -> list[dict]:
        """[{id, name}] of the company's users among `user_ids`, sorted by name."""
        docs = self.get_many(user_ids, {"name": 1})
        return sorted(({"id": d["_id"], "name": d.get("name", "")} for d in docs),
                      key=lambda u: (u["name"], u["id"]))
