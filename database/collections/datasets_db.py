"""Datasets: named collections of a model's records (`datasets.*`).

Collection `datasets`: `{_id, company, user, model, name, project, info, collection_date ("YYYY-MM-DD"),
experiment, tags, created, last_update}`. A name is unique within its model (a unique index). Datasets
are never public: they belong to the company that made them.
"""

from __future__ import annotations

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from database import clock
from database.collections.scoped import Resource, ScopedCollection
from database.errors import QueryError
from database.query import engine

DATASETS = "datasets"
SPEC = engine.QuerySpec(
    list_fields=frozenset({"id", "model", "project", "experiment", "tags", "user", "collection_date"}),
    pattern_fields=frozenset({"name"}),
    range_fields=frozenset({"created"}),
    datetime_fields=frozenset({"last_update"}),
    text_fields=("name", "id", "experiment"),
    known_fields=frozenset({"id", "company", "user", "model", "name", "project", "info", "collection_date",
                            "experiment", "tags", "created", "last_update"}),
    numeric_sort_fields=frozenset(),
    # the embedded server's clause order (database/query/shape.py)
    narrow_first=("project", "name", "user", "tags"),
)
RESOURCE = Resource("datasets", DATASETS, SPEC, shareable=False)


class DuplicateDatasetName(QueryError):
    pass


def ensure_indexes(db: Database) -> None:
    coll = db[DATASETS]
    coll.create_index([("company", ASCENDING), ("model", ASCENDING), ("name", ASCENDING)], unique=True)
    for keys in (["company", "project"], ["company", "experiment"], ["company", "tags"],
                 ["company", "collection_date"], ["company", "created"]):
        coll.create_index([(k, ASCENDING) for k in keys])


class Datasets(ScopedCollection):
    resource = RESOURCE

    def create(self, doc: dict) -> dict:
        try:
            return self.insert(doc)
        except DuplicateKeyError:
            raise DuplicateDatasetName("a dataset of this model already has this name", name=doc.get("name"),
                                       model=doc.get("model")) from None

    def edit(self, dataset_id: str, fields: dict) -> int:
        try:
            return self.update(dataset_id, {"$set": {**fields, "last_update": clock.now()}})
        except DuplicateKeyError:
            raise DuplicateDatasetName("a dataset of this model already has this name", name=fields.get("name"),
                                       ) from None

    def by_name(self, model_id: str, name: str) -> dict | None:
        return self.find_one({"model": model_id, "name": name}, own_only=True)

    def of_model(self, model_id: str, projection: dict | None = None) -> list[dict]:
        return self.find({"model": model_id}, projection, own_only=True, sort=[("name", 1)])

    def delete_of_model(self, model_id: str) -> int:
        return self.delete_many({"model": model_id})
