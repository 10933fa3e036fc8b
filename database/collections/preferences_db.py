"""Each user's web-interface preferences: collection `user_preferences`, one document per user
`{_id: user id, company, preferences: {...}}`.

Updates replace whole top-level keys with `$set` on `preferences.<key>`, so two browser tabs (or two
API workers) writing different keys at once never lose each other's change. Keys are stored escaped
(`stored_keys`): the web app sends keys such as `hiddenProjectTableCols.<project id>`, and reads them back
as sent.
"""

from __future__ import annotations

from pymongo import ASCENDING, ReturnDocument
from pymongo.database import Database

from database.collections.scoped import Resource, ScopedCollection
from database.collections.stored_keys import as_sent, storable, storable_key

PREFERENCES = "user_preferences"
RESOURCE = Resource("preferences", PREFERENCES, shareable=False)


def ensure_indexes(db: Database) -> None:
    db[PREFERENCES].create_index([("company", ASCENDING)])


class Preferences(ScopedCollection):
    resource = RESOURCE

    def of_user(self, user_id: str) -> dict:
        doc = self.get(user_id, {"preferences": 1})
        return as_sent((doc or {}).get("preferences") or {})

    def set_top_level(self, user_id: str, changes: dict) -> tuple[dict, dict]:
        """Sets each top-level key of `changes`; returns (preferences before, preferences after).

        Keys at any depth may hold '.' or start with '$': they are stored escaped.
        """
        if not changes:
            current = self.of_user(user_id)
            return current, current
        before = self.find_one_and_update(
            {"_id": user_id},
            {"$set": {f"preferences.{storable_key(k)}": storable(v) for k, v in changes.items()}},
            projection={"preferences": 1},
            upsert=True,
            return_document=ReturnDocument.BEFORE,
        )
        old = as_sent((before or {}).get("preferences") or {})
        return old, {**old, **changes}
