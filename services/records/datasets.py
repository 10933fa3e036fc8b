"""datasets.*: named collections of a model's records (modelreg extension, 2.99).

A dataset belongs to one own model and its name is unique within that model (a unique index; a
duplicate is 400/801). Deleting one that records use is refused unless `force`, which deletes those
records and their stored files too.
"""

from __future__ import annotations

from database import clock, ids
from database.errors import QueryError
from services import errors, failures
from services.call import Call
from services.handlers import handles
from services.records import model_data
from services.shared import listing, lookups

EDITABLE = ("name", "project", "experiment", "collection_date", "info", "tags")


def _checked_fields(call: Call, data: dict) -> dict:
    """The editable fields the request sets (null and absent leave a field alone), references checked."""
    fields = {k: data[k] for k in EDITABLE if data.get(k) is not None}
    if "name" in fields:
        fields["name"] = fields["name"].strip()
        if not fields["name"]:
            raise errors.ValidationError("error for field 'name'. must not be empty")
    if fields.get("project"):
        lookups.readable_project(call.scope, fields["project"])
    model_data.checked_date("collection_date", fields.get("collection_date"))
    return fields


def _translated(func, *args):
    try:
        return func(*args)
    except QueryError as exc:
        raise failures.from_query_error(exc) from None


@handles("datasets.create")
def create(call: Call) -> dict:
    data = call.data
    model = model_data.own_model(call.scope, data["model"])
    fields = _checked_fields(call, data)
    when = clock.now()
    doc = {"_id": ids.new_id(), "user": call.identity.user, "model": model["_id"], "project": None,
           "experiment": None, "collection_date": None, "info": {}, "tags": [], **fields,
           "created": when, "last_update": when}
    _translated(call.scope.datasets.create, doc)
    return {"id": doc["_id"]}


@handles("datasets.get_by_id")
def get_by_id(call: Call) -> dict:
    dataset = model_data.own_dataset(call.scope, call.data["dataset"])
    return {"dataset": {"id": dataset.pop("_id"), **dataset}}


LISTING = listing.Listing(
    reply_key="datasets",
    scoped=lambda scope: scope.datasets,
    prepare=lambda call, data, extended: model_data.date_range("collection_date", data.get("collection_date_range")),
)


@handles("datasets.get_all")
def get_all(call: Call) -> dict:
    return listing.page(call, LISTING, extended=False)


@handles("datasets.get_all_ex")
def get_all_ex(call: Call) -> dict:
    # the same listing: a dataset holds no references to join and nothing is added to it
    return listing.page(call, LISTING, extended=False)


@handles("datasets.edit")
def edit(call: Call) -> dict:
    dataset = model_data.own_dataset(call.scope, call.data["dataset"])
    fields = _checked_fields(call, call.data)
    if not fields:
        return {"updated": 0, "fields": {}}
    updated = _translated(call.scope.datasets.edit, dataset["_id"], fields)
    return {"updated": updated, "fields": fields}


@handles("datasets.delete")
def delete(call: Call) -> dict:
    dataset = model_data.own_dataset(call.scope, call.data["dataset"])
    used = call.scope.records.count_using_dataset(dataset["_id"])
    removed = 0
    if used:
        if not call.data.get("force"):
            raise errors.DatasetInUse("use force=true to delete it with its records", records=used)
        removed = model_data.remove_records(call.scope, call.stores, {"dataset": dataset["_id"]})
    return {"deleted": call.scope.datasets.delete(dataset["_id"]), "deleted_records": removed}
