"""What kind of change an entry records: one table from endpoint to kind, with a derived default.

The default of a change to the endpoint's own resource is `<resource>.<past tense of the action>`
(`models.publish_many` -> `model.published`); a change an endpoint makes to another resource on the
way is `<that resource>.<created|updated|deleted>` (`models.publish` publishing its task:
`task.updated`). `OVERRIDES` names the kinds the default gets wrong, per endpoint and target type
(`None`: any target).
"""

from __future__ import annotations

# service -> the target type of its own resource
SERVICE_TARGETS = {"models": "model", "tasks": "task", "projects": "project", "events": "event", "users": "user",
                   "datasets": "dataset", "records": "record", "auth": "user", "promotions": "promotion",
                   "uploads": "upload", "webhooks": "webhook"}
IRREGULAR = {"set": "set", "reset": "reset", "stop": "stopped", "add": "added", "make": "made", "get": "got",
             "put": "put", "edit": "edited", "clone": "cloned", "ping": "pinged", "move": "moved",
             "import": "imported", "upload": "uploaded", "completed": "completed", "failed": "failed",
             "stopped": "stopped", "started": "started", "enqueue": "enqueued", "revoke": "revoked",
             "cancel": "cancelled"}
OVERRIDES: dict[tuple[str, str | None], str] = {
    ("models.set_alias", "registered_model"): "alias.moved",
    ("models.delete_alias", "registered_model"): "alias.deleted",
    ("models.set_alias", "model"): "model.aliases_synced",
    ("models.delete_alias", "model"): "model.aliases_synced",
    ("models.create", "registered_model"): "registered_model.version_taken",
    ("models.update_tags", None): "model.tags_updated",
    ("tasks.update_tags", None): "task.tags_updated",
    ("models.add_or_update_metadata", "model"): "model.metadata_updated",
    ("models.delete_metadata", "model"): "model.metadata_deleted",
    ("models.delete_file", "model"): "model.file_deleted",
    ("models.upload", "model"): "model.file_uploaded",
    ("records.upload", "record"): "record.file_uploaded",
    ("records.delete_file", "record"): "record.file_deleted",
    ("users.set_preferences", None): "preferences.set",
    ("auth.create_credentials", "credential"): "credential.created",
    ("auth.revoke_credentials", "credential"): "credential.revoked",
    ("auth.create_user", "user"): "user.created",
    ("auth.delete_user", "user"): "user.deleted",
    ("auth.delete_user", "credential"): "credential.revoked",
    ("tasks.add_or_update_artifacts", "task"): "task.artifacts_updated",
    ("tasks.add_or_update_model", "task"): "task.model_set",
    ("tasks.delete_artifacts", "task"): "task.artifacts_deleted",
    ("tasks.delete_configuration", "task"): "task.configuration_deleted",
    ("tasks.delete_hyper_params", "task"): "task.hyper_params_deleted",
    ("tasks.delete_models", "task"): "task.models_deleted",
    ("tasks.edit_configuration", "task"): "task.configuration_edited",
    ("tasks.edit_hyper_params", "task"): "task.hyper_params_edited",
    ("tasks.set_requirements", "task"): "task.requirements_set",
    ("models.update_for_task", "model"): "model.output_updated",
    ("models.import_url", "model"): "model.file_imported",
    ("events.add", "event"): "event.added",
    ("events.add_batch", "event"): "event.added",
    ("users.delete", "credential"): "credential.revoked",
    # governed promotion: rules, break-glass moves, and the move an approval makes
    ("models.protect_alias", "alias_rule"): "alias.protected",
    ("models.unprotect_alias", "alias_rule"): "alias.unprotected",
    ("models.break_glass_alias", "registered_model"): "alias.moved",
    ("models.break_glass_alias", "model"): "model.aliases_synced",
    ("models.break_glass_alias", "alias_rule"): "alias.version_kept",
    ("promotions.review", "registered_model"): "alias.moved",
    ("promotions.review", "model"): "model.aliases_synced",
    ("promotions.review", "alias_rule"): "alias.version_kept",
    # resumable uploads
    ("uploads.put_part", "upload"): "upload.part_received",
    # webhooks
    ("webhooks.test", None): "webhook.tested",
    ("webhooks.redeliver", "webhook_delivery"): "webhook_delivery.queued",
}
OPS = ("created", "updated", "deleted")


def _past(verb: str) -> str:
    if verb in IRREGULAR:
        return IRREGULAR[verb]
    return verb + ("d" if verb.endswith("e") else "ed")


def kind_of(endpoint: str, target_type: str, op: str) -> str:
    """The kind of a change of `op` (created, updated, deleted) to a `target_type` made by `endpoint`."""
    if target_type == "file":  # a stored file is uploaded or deleted, whatever the endpoint
        return "file.uploaded" if op == "created" else f"file.{op}"
    kind = OVERRIDES.get((endpoint, target_type)) or OVERRIDES.get((endpoint, None))
    if kind:
        return kind
    service, _, action = endpoint.partition(".")
    if SERVICE_TARGETS.get(service) != target_type or not action:
        return f"{target_type}.{op}"
    words = [w for w in action.split("_") if w != "many"]
    return f"{target_type}.{'_'.join([_past(words[0]), *words[1:]])}"
