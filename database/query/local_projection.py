"""Projections applied to a page's documents here instead of by the embedded server.

The embedded server (secantusd-py 0.7) projects by deep-copying every document it returns, field by field
in Python: for a page of 100 models that is ~15% of the database's time for the whole search (a profile of
`models.get_all` by tag and name, ordered by name, docs/search-plans.md). Dropping or keeping whole
top-level fields of a decoded document costs next to nothing, so on the embedded server a projection made
only of top-level fields is sent as no projection and applied to the documents as they are read.
MongoDB projects in its own code and saves the bytes on the wire: there the projection is sent as built.

The reply bound (readable.Bounded) counts a document's size as the database would have sent it: the raw
document's size less the elements the projection leaves out, so a page is cut at the same document.
"""

from __future__ import annotations

from collections.abc import Mapping

from bson import encode
from pymongo.database import Database

from database import connection

_EMPTY_DOC = 5  # a BSON document's length prefix and terminator


class Local:
    """A projection of top-level fields: `keep` (inclusion) or `drop` (exclusion)."""

    def __init__(self, projection: Mapping[str, int]):
        self.inclusion = any(v == 1 for k, v in projection.items() if k != "_id") or projection.get("_id") == 1
        if self.inclusion:
            self.fields = frozenset(k for k, v in projection.items() if v == 1)
            if projection.get("_id", 1) != 0:
                self.fields |= {"_id"}
        else:
            self.fields = frozenset(k for k, v in projection.items() if v == 0)

    def kept(self, key: str) -> bool:
        return (key in self.fields) == self.inclusion

    def apply(self, doc: dict) -> dict:
        """`doc` projected; an exclusion changes the (freshly decoded) document in place."""
        if self.inclusion:
            return {k: v for k, v in doc.items() if k in self.fields}
        for key in self.fields:
            doc.pop(key, None)
        return doc

    def size(self, doc: Mapping, raw_size: int) -> int:
        """The BSON size of the projected form of `doc`, decoded from `raw_size` bytes: the elements kept or
        the elements left out are encoded again, whichever are fewer."""
        if self.inclusion:
            kept = [key for key in doc if key in self.fields]
            if len(kept) * 2 <= len(doc):
                return _EMPTY_DOC + sum(_element_size(key, doc[key]) for key in kept)
            return raw_size - sum(_element_size(key, value) for key, value in doc.items() if key not in self.fields)
        return raw_size - sum(_element_size(key, doc[key]) for key in self.fields if key in doc)


def _element_size(key: str, value) -> int:
    return len(encode({key: value})) - _EMPTY_DOC


def split(db: Database, projection: dict | None) -> tuple[dict | None, Local | None]:
    """(what the database is sent, what is applied here) for `projection` read from `db`."""
    if not projection or not _top_level(projection) or not connection.is_embedded(db):
        return projection or None, None
    return None, Local(projection)


def _top_level(projection: Mapping) -> bool:
    return all("." not in k and not k.startswith("$") and v in (0, 1) and not isinstance(v, bool)
               for k, v in projection.items())
