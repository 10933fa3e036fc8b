"""models.*, part two: the lifecycle of a model: publish, archive, delete, share, move, tag.

Batch endpoints answer per id (services/shared/batch.py); writes touch own models only (400/201 otherwise),
except that a public model can be deleted by the company that shared it.
"""

from __future__ import annotations

from database.collections import models_db
from services import errors
from services.call import Call
from services.handlers import handles
from services.identity import roles
from services.models import shapes, versioning
from services.shared import lookups, publishing, removal
from services.shared.batch import run_batch
from services.tasks.status import PUBLISHED

# --- publishing ----------------------------------------------------------------------------------


@handles("models.set_ready")
def set_ready(call: Call) -> dict:
    updated, published_task = publishing.publish_model(
        call.scope, call.identity.user, call.data["model"], call.data.get("publish_task", True),
        call.data.get("force_publish_task", False))
    result = {"updated": updated, "fields": {}}
    if published_task:
        result["published_task"] = published_task
    return result


@handles("models.publish_many")
def publish_many(call: Call) -> dict:
    publish_task = call.data.get("publish_task", True)
    force = call.data.get("force_publish_task", False)

    def publish(model_id: str) -> dict:
        updated, published_task = publishing.publish_model(call.scope, call.identity.user, model_id,
                                                           publish_task, force)
        return {"updated": bool(updated), "published_task": published_task}

    return run_batch(call.data["ids"], publish)


def _set_archived(call: Call, archived: bool):
    change = call.scope.models.add_tags if archived else call.scope.models.remove_tags

    def operation(model_id: str) -> dict:
        lookups.writable_model(call.scope, model_id)
        changed = change([model_id], "system_tags", [models_db.ARCHIVED], call.identity.user)
        return {"archived" if archived else "unarchived": bool(changed)}

    return operation


@handles("models.archive_many")
def archive_many(call: Call) -> dict:
    return run_batch(call.data["ids"], _set_archived(call, True))


@handles("models.unarchive_many")
def unarchive_many(call: Call) -> dict:
    return run_batch(call.data["ids"], _set_archived(call, False))


# --- delete --------------------------------------------------------------------------------------


def _delete_model(call: Call, model_id: str, force: bool, delete_artifacts: bool) -> tuple[bool, str]:
    model = _deletable_model(call, model_id)
    users = call.scope.tasks.count_using_model_as_input(model)
    if users and not force:
        raise errors.ModelInUse("as execution model, use force=True to delete", num_tasks=users)
    task_id = model.get("task")
    if task_id and not force:
        task = call.scope.tasks.get(task_id, {"status": 1})
        if task is not None and task.get("status") == PUBLISHED:
            raise errors.ModelCreatingTaskExists("and published, use force=True to delete", task=task_id)
    held = removal.model_data_counts(call.scope, model_id)
    if any(held.values()):
        if not force:
            raise errors.ModelHasData("use force=True to delete them with it", **held)
        removal.remove_model_data(call.scope, call.stores, model_id)
    deleted = removal.remove_model(call.scope, call.stores, model, delete_artifacts)
    return deleted, model.get("uri")


def _deletable_model(call: Call, model_id: str) -> dict:
    """An own model, or a public one the caller's company shared when the caller is an admin or the
    user who registered it (a shared model can be taken back by its owner)."""
    model = lookups.owned_model(call.scope, model_id)
    taker = roles.is_admin(call.identity.role) or model.get("user") == call.identity.user
    if model.get("company") != call.company and not taker:
        raise errors.InvalidModelId(company=call.company, model=model_id)
    return model


@handles("models.delete")
def delete(call: Call) -> dict:
    deleted, url = _delete_model(call, call.data["model"], call.data.get("force", False),
                                 call.data.get("delete_external_artifacts", True))
    result = {"deleted": deleted}
    if call.version_at_least("2.13"):
        result["url"] = url
    return result


@handles("models.delete_many")
def delete_many(call: Call) -> dict:
    force = call.data.get("force", False)
    artifacts = call.data.get("delete_external_artifacts", True)

    def remove(model_id: str) -> dict:
        deleted, url = _delete_model(call, model_id, force, artifacts)
        return {"deleted": deleted, "url": url}

    return run_batch(call.data["ids"], remove)


# --- sharing, moving, tags, metadata -------------------------------------------------------------


@handles("models.make_public")
def make_public(call: Call) -> dict:
    ids = call.data["ids"]
    missing = sorted(set(ids) - call.scope.models.writable_ids(ids))
    if missing:
        raise errors.InvalidModelId(ids=missing)
    return {"updated": call.scope.models.make_public(ids)}


@handles("models.make_private")
def make_private(call: Call) -> dict:
    ids = call.data["ids"]
    missing = sorted(set(ids) - call.scope.models.shared_ids(ids))
    if missing:
        raise errors.InvalidModelId(ids=missing)
    return {"updated": call.scope.models.make_private(ids)}


@handles("models.move")
def move(call: Call) -> dict:
    project_id = lookups.move_target(call.scope, call.identity.user, call.data)
    moved = call.scope.models.find({"_id": {"$in": list(set(call.data["ids"]))}},
                                   {"name": 1, "project": 1, "version": 1, "ready": 1}, own_only=True)
    for model in moved:  # all refused before any moves: a governed version keeps its registered model
        versioning.check_change(call.scope, model, {"project": project_id})
    call.scope.models.move(call.data["ids"], project_id, call.identity.user)
    for model in moved:  # a model in another project belongs to another registered model
        versioning.regroup(call.scope, model, {"project": project_id}, call.identity.user)
    return {"project_id": project_id}


@handles("models.update_tags")
def update_tags(call: Call) -> dict:
    add, remove = call.data.get("add_tags"), call.data.get("remove_tags")
    if not (add or remove):
        raise errors.ValidationError("Either add_tags or remove_tags should be provided")
    shapes.conform_tags_input(call, {"tags": list(add or []) + list(remove or [])})
    ids, user = call.data["ids"], call.identity.user
    updated = 0
    if add:
        updated += call.scope.models.add_tags(ids, "tags", add, user)
    if remove:
        updated += call.scope.models.remove_tags(ids, "tags", remove, user)
    return {"updated": updated}

