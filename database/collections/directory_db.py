"""The user directory, two views of it:
- `Users` (`scope.users`): the users of one company as other users see them (names and ids for
  listings, filters and the user join of get_all_ex replies), and the company's name. Users are never
  public: a company sees its own users only, whatever the caller's role.
- `Directory` (`call.directory`): user and key-pair management, with the rule of which company a
  caller may manage (its own; any, for server-level roles).
The stored form of users and key pairs (digests, the auth epoch) is database/collections/users_db.py's.
"""

from __future__ import annotations

from collections.abc import Iterable

from pymongo.database import Database

from database.collections import users_db
from database.collections.recording import Recorder, RecordingDatabase
from database.collections.scoped import Resource, ScopedCollection
from database.collections.users_db import CREDENTIALS, USERS
from database.errors import QueryError
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


class OutOfReach(QueryError):
    """A caller tried to manage users or key pairs of a company it may not manage."""


RECORDED = frozenset({USERS, CREDENTIALS})  # the directory's writes that the change log records

class Directory:
    """Users and key pairs as one caller may manage them: the one place that decides which company's
    users a caller reaches. The rule: a caller manages its own company; a server-level caller
    (`across_companies`: roles root and system) any company. Every method applies it, so no handler
    can forget it; handlers add the rules about roles (who may grant or delete which role)."""

    def __init__(self, db: Database, company: str, user: str, role: str = "", across_companies: bool = False,
                 recorder: Recorder | None = None):
        self.db = db
        # writes of users and key pairs go through this, which logs them with the call's recorder
        self.writes = RecordingDatabase(db, recorder, RECORDED)
        self.recorder = recorder
        self.company = company
        self.caller = user
        self.role = role
        self.across_companies = across_companies

    # --- the rule ------------------------------------------------------------------------------------

    def may_manage(self, company: str) -> bool:
        return company == self.company or self.across_companies

    def _reach(self, company: str) -> str:
        if not self.may_manage(company):
            raise OutOfReach("only server-level roles manage users of another company", role=self.role,
                             company=company)
        return company

    def _writes_in(self, company: str) -> RecordingDatabase:
        """Writes of users and key pairs of `company`, logged in that company's change log: a server-level
        caller's change to another company's users is that company's history (its auditors see it), and
        must not reach the caller's own company's feed, audit trail and webhooks."""
        if company == self.company or self.recorder is None:
            return self.writes
        return RecordingDatabase(self.db, self.recorder.in_company(company), RECORDED)

    # --- the caller's own user and key pairs --------------------------------------------------------

    def own_user(self) -> dict | None:
        return users_db.get_user(self.db, self.caller)

    def own_credentials(self) -> list[dict]:
        """The caller's key pairs, without their digests."""
        return users_db.list_credentials(self.db, self.caller)

    def revoke_own_credential(self, access_key: str) -> int:
        return users_db.revoke_credential(self.writes, self.caller, access_key)

    # --- users of the companies the caller manages --------------------------------------------------

    def user(self, user_id: str) -> dict | None:
        """A user of a company the caller manages, else None."""
        doc = users_db.get_user(self.db, user_id)
        return doc if doc is not None and self.may_manage(doc["company"]) else None

    def users(self, company: str) -> list[dict]:
        return users_db.list_users(self.db, self._reach(company))

    def company_name(self, company: str) -> str | None:
        """The name a company's users carry; None when the company has no user yet."""
        return users_db.company_name(self.db, self._reach(company))

    def create_user(self, name: str, company: str, company_name: str, role: str) -> dict:
        return users_db.create_user(self._writes_in(self._reach(company)), name, company, company_name, role)

    def add_credential(self, user: dict, access_key: str, secret_key: str, label: str | None = None) -> dict:
        writes = self._writes_in(self._reach(user["company"]))
        return users_db.add_credential(writes, user, access_key, secret_key, label)

    def update_profile(self, user: dict, fields: dict) -> int:
        writes = self._writes_in(self._reach(user["company"]))
        if self.recorder is not None:  # the entry's before values: the user as the caller read it
            self.recorder.remember(USERS, user)
        return users_db.update_profile(writes, user["_id"], fields)

    def delete_user(self, user: dict) -> int:
        writes = self._writes_in(self._reach(user["company"]))
        return users_db.delete_user(writes, user["_id"])

    def companies(self) -> list[dict]:
        """[{id, name, users}] of the companies the caller manages, in the order their users sort."""
        found: dict[str, dict] = {}
        for doc in users_db.list_users(self.db, None if self.across_companies else self.company):
            entry = found.setdefault(doc["company"], {"id": doc["company"], "name": doc.get("company_name", ""),
                                                      "users": 0})
            entry["users"] += 1
        return list(found.values())
