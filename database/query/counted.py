"""A page of a sorted match and the number of documents matching, in as few passes as the database allows.

MongoDB answers both from its indexes: the page by walking an index in sort order, the count from the
index keys, so they are sent as a `find` and a `count`. The embedded server (secantusd-py 0.7) reads and
decodes every candidate document for each of the two (a count with a filter reads the whole collection),
so there both come from one aggregation with `$facet`: the candidates are read once, sorted once, and the
page and the count are taken from that one set (about 0.6x the database time of the two commands for
10,000 registered models, docs/search-plans.md).
"""

from __future__ import annotations

from pymongo.collection import Collection

from database import connection


def page_and_total(collection: Collection, match: dict, sort: list[tuple[str, int]], skip: int, limit: int,
                   projection: dict) -> tuple[list[dict], int]:
    """The documents of `match` in `sort` order after `skip`, at most `limit`, projected; and how many match."""
    if not connection.is_embedded(collection.database):
        docs = list(collection.find(match, projection).sort(sort).skip(skip).limit(limit))
        return docs, collection.count_documents(match)
    page: list[dict] = [{"$sort": dict(sort)}]
    if skip:
        page.append({"$skip": skip})
    page += [{"$limit": limit}, {"$project": projection}]
    found = list(collection.aggregate([{"$match": match},
                                       {"$facet": {"page": page, "total": [{"$count": "n"}]}}]))
    result = found[0] if found else {}
    total = result.get("total") or [{}]
    return list(result.get("page") or []), int(total[0].get("n") or 0)
