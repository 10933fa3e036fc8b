"""Alias protection rules: which aliases of a registered model (or of every registered model of a
project) move only through reviewed promotion requests.

Collection `alias_rules`, one document per (company, project, name, alias):
`{_id, company, project (None: the root), name ("*": every registered model of the project), alias,
reviewers {roles, users}, required_approvals, require_signature, sample_inputs, immutable, pinned
[model ids], user, created, last_update}`.

`pinned` holds every model the protected alias has named since the rule exists (and the one it named
when the rule was made): those versions cannot be deleted. It grows by `$addToSet` in the same update
path as each move, so every worker sees it at once.
"""

from __future__ import annotations

from pymongo import ASCENDING, ReturnDocument
from pymongo.database import Database

from database import clock, ids
from database.collections.scoped import Resource, ScopedCollection

ALIAS_RULES = "alias_rules"
EVERY_MODEL = "*"  # the name of a rule that covers every registered model of its project
RESOURCE = Resource("alias_rules", ALIAS_RULES, shareable=False)


def ensure_indexes(db: Database) -> None:
    db[ALIAS_RULES].create_index([("company", ASCENDING), ("project", ASCENDING), ("name", ASCENDING),
                                  ("alias", ASCENDING)], unique=True)
    db[ALIAS_RULES].create_index([("company", ASCENDING), ("pinned", ASCENDING)])


def _key(project: str | None, name: str, alias: str) -> dict:
    return {"project": project or None, "name": name, "alias": alias}


class AliasRules(ScopedCollection):
    """The company's alias protection rules."""

    resource = RESOURCE

    def put(self, project: str | None, name: str, alias: str, fields: dict, user: str) -> tuple[dict, bool]:
        """Creates or replaces the rule of (project, name, alias); returns it and whether it is new."""
        now = clock.now()
        before = self.find_one_and_update(
            _key(project, name, alias),
            {"$set": {**fields, "user": user, "last_update": now},
             "$setOnInsert": {"_id": ids.new_id(), "created": now, "pinned": []}},
            upsert=True, return_document=ReturnDocument.BEFORE, projection={"_id": 1})
        return self.find_one(_key(project, name, alias), own_only=True) or {}, before is None

    def remove(self, project: str | None, name: str, alias: str) -> bool:
        return self.delete_many(_key(project, name, alias)) > 0

    def governing(self, project: str | None, name: str) -> list[dict]:
        """The rules over the registered model (project, name): its own and its project's `*` rules."""
        return self.find({"project": project or None, "name": {"$in": [name, EVERY_MODEL]}}, own_only=True,
                         sort=[("alias", ASCENDING), ("name", ASCENDING)])

    def of_project(self, project: str | None) -> list[dict]:
        return self.find({"project": project or None}, own_only=True, sort=[("name", ASCENDING), ("alias", ASCENDING)])

    def pin(self, rule_id: str, model_ids: list[str]) -> None:
        """Remembers that the rule's alias named these models (they can no longer be deleted)."""
        model_ids = [m for m in model_ids if m]
        if model_ids:
            self.update(rule_id, {"$addToSet": {"pinned": {"$each": model_ids}}})

    def pinning(self, model_id: str) -> dict | None:
        """A rule whose alias names or named the model, if any."""
        return self.find_one({"pinned": model_id}, {"_id": 1, "project": 1, "name": 1, "alias": 1}, own_only=True)
