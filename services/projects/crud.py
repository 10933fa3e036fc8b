"""projects.*: the folders tasks and models live in."""

from __future__ import annotations

from database import clock
from database.collections import projects_db, tasks_db
from database.query import metadata_keys
from services import errors
from services.call import Call
from services.handlers import handles
from services.projects import stats as projects_ex
from services.promotion import rules
from services.shared import legacy_tags, listing, lookups, people, removal

ARCHIVED = "archived"
HIDDEN = projects_db.HIDDEN_TAG
CREATE_FIELDS = ("description", "tags", "system_tags", "default_output_destination")


def _sorted_tags(doc: dict) -> dict:
    for tag_field in ("tags", "system_tags"):
        if tag_field in doc:
            doc[tag_field] = sorted(doc[tag_field] or [])
    return doc


def render(doc: dict) -> dict:
    """A stored project in API shape."""
    return _sorted_tags({"id": doc["_id"], **{k: v for k, v in doc.items() if k != "_id"}})


def _readable(call: Call, project_id: str) -> dict:
    return lookups.readable_project(call.scope, project_id)


def _writable(call: Call, project_id: str) -> dict:
    return lookups.writable_project(call.scope, project_id)


@handles("projects.create")
def create(call: Call) -> dict:
    data = dict(call.data)
    legacy_tags.split_written_tags(call, data, legacy_tags.PROJECT_SYSTEM_TAGS)
    doc = call.scope.projects.create_project(
        call.identity.user, data["name"],
        description=data.get("description") or "", tags=data.get("tags"), system_tags=data.get("system_tags"),
        default_output_destination=data.get("default_output_destination"),
    )
    return {"id": doc["_id"]}


@handles("projects.get_by_id")
def get_by_id(call: Call) -> dict:
    return {"project": legacy_tags.merge_reply_tags(call, render(_readable(call, call.data["project"])))}


@handles("projects.update")
def update(call: Call) -> dict:
    data = dict(call.data)
    legacy_tags.split_written_tags(call, data, legacy_tags.PROJECT_SYSTEM_TAGS)
    project = _writable(call, data["project"])
    fields = {k: data[k] for k in CREATE_FIELDS if data.get(k) is not None}
    for tag_field in ("tags", "system_tags"):
        if tag_field in fields:
            fields[tag_field] = sorted(set(fields[tag_field]))
    name = data.get("name")
    if name is not None:
        new_name = call.scope.projects.checked_name(name)
        if projects_db.split_name(new_name)[0] != projects_db.split_name(project["name"])[0]:
            raise errors.CannotUpdateProjectLocation(name=new_name)
        call.scope.projects.rename_project(project, new_name)
        fields["name"] = new_name
        fields["basename"] = projects_db.split_name(new_name)[1]
    if not fields:
        return {"updated": 0, "fields": {}}
    fields["last_update"] = clock.now()
    call.scope.projects.update_project(project["_id"], fields)
    return {"updated": 1, "fields": fields}


# --- queries -------------------------------------------------------------------------------------


def _prepare(call: Call, data: dict, extended: bool) -> dict | None:
    """`parent` as ClearML reads it; get_all_ex's `active_users` as a condition on the project ids."""
    data.pop("path", None)  # derived from parent, not a filter of its own
    if data.get("shallow_search"):
        if "parent" not in data:
            data["parent"] = [None]  # the top level
    elif data.get("parent") is not None:
        data["path"] = data.pop("parent")  # anywhere below the given projects
    if extended and data.get("active_users"):
        return {"_id": {"$in": call.scope.projects.with_ancestors(
            people.projects_of_users(call.scope, data["active_users"]))}}
    return None


def _shape(call: Call, docs: list[dict]) -> list[dict]:
    return [legacy_tags.merge_reply_tags(call, _sorted_tags(d)) for d in docs]


def _extend(call: Call, data: dict, docs: list[dict]) -> None:
    _add_extended_fields(call, data, docs)
    projects_ex.complete(call, data, docs)


LISTING = listing.Listing(
    reply_key="projects",
    scoped=lambda scope: scope.projects,
    system_tags=legacy_tags.PROJECT_SYSTEM_TAGS,
    hidden_tag=HIDDEN,
    negated_public_flag="non_public",  # ClearML: `allow_public` when sent, else the older `non_public`
    prepare=_prepare,
    shape=_shape,
    extend=_extend,
)


def _add_extended_fields(call: Call, data: dict, docs: list[dict]) -> None:
    ids = [d["id"] for d in docs if d.get("id")]
    if not ids:
        return
    below = call.scope.projects.descendants_by_project(ids)
    for doc in docs:
        doc["sub_projects"] = below.get(doc["id"], [])
    users = data.get("active_users") or None  # with active_users, counts and stats are of their tasks and models
    if data.get("check_own_contents"):
        condition = _own_contents_condition(data.get("include_stats_filter"))
        if users:
            condition["user"] = {"$in": users}
        own_tasks = call.scope.tasks.count_by_project(ids, condition)
        own_models = call.scope.models.count_by("project", {"project": {"$in": ids}, **condition}, allow_public=True)
        for doc in docs:
            doc["own_tasks"] = own_tasks.get(doc["id"], 0)
            doc["own_models"] = own_models.get(doc["id"], 0)
    if data.get("include_stats"):
        with_children = data.get("stats_with_children", True)
        states = [data["stats_for_state"]] if data.get("stats_for_state") else ["active", "archived"]
        for doc in docs:
            scope = [doc["id"], *[p["id"] for p in doc["sub_projects"]]] if with_children else [doc["id"]]
            doc["stats"] = {
                state: {"status_count": call.scope.tasks.status_counts(scope, state == "archived", users),
                        "total_runtime": 0}
                for state in states
            }


def _own_contents_condition(stats_filter) -> dict:
    """own_tasks/own_models count archived entities only when the filter's system_tags name
    `archived` or `-archived` (as ClearML); its tags and system_tags terms match any-of."""
    stats_filter = stats_filter if isinstance(stats_filter, dict) else {}
    condition: dict = {}
    system_tags = stats_filter.get("system_tags") or []
    if not isinstance(system_tags, list) or not all(isinstance(t, str) for t in system_tags):
        raise errors.ValidationError("List of strings expected for the field: system_tags")
    if ARCHIVED not in system_tags and f"-{ARCHIVED}" not in system_tags:
        system_tags = [f"-{ARCHIVED}", *system_tags]
    for field, terms in (("tags", stats_filter.get("tags") or []), ("system_tags", system_tags)):
        if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
            raise errors.ValidationError(f"List of strings expected for the field: {field}")
        include = [t for t in terms if not t.startswith("-")]
        exclude = [t[1:] for t in terms if t.startswith("-")]
        clauses = {**({"$in": include} if include else {}), **({"$nin": exclude} if exclude else {})}
        if clauses:
            condition[field] = clauses
    return condition


@handles("projects.get_all")
def get_all(call: Call) -> dict:
    return listing.page(call, LISTING, extended=False)


@handles("projects.get_all_ex")
def get_all_ex(call: Call) -> dict:
    return listing.page(call, LISTING, extended=True)


# --- contents --------------------------------------------------------------------------------------


def _contents(call: Call, project: dict) -> tuple[list[str], dict]:
    """The ids of the project and its subprojects, and counts of the tasks and models inside."""
    ids = call.scope.projects.with_descendants([project["_id"]])
    not_archived = {"system_tags": {"$ne": ARCHIVED}}
    in_projects = {"project": {"$in": ids}}
    counts = {
        "tasks": call.scope.tasks.count_in_projects(ids),
        "non_archived_tasks": call.scope.tasks.count_in_projects(ids, not_archived),
        "models": call.scope.models.count(in_projects),
        "non_archived_models": call.scope.models.count({**in_projects, **not_archived}),
    }
    return ids, counts


@handles("projects.validate_delete")
def validate_delete(call: Call) -> dict:
    return _contents(call, _writable(call, call.data["project"]))[1]


@handles("projects.delete")
def delete(call: Call) -> dict:
    data = call.data
    project = _writable(call, data["project"])
    ids, counts = _contents(call, project)
    if not data.get("force"):
        if counts["non_archived_tasks"]:
            raise errors.ProjectHasTasks("use force=true to delete", id=project["_id"],
                                         tasks=counts["non_archived_tasks"])
        if counts["non_archived_models"]:
            raise errors.ProjectHasModels("use force=true to delete", id=project["_id"],
                                          models=counts["non_archived_models"])
    rules.refuse_emptying_projects(call.scope, ids, bool(data.get("delete_contents")))
    reply = {"deleted": 0, "disassociated_tasks": 0, "deleted_models": 0, "deleted_tasks": 0,
             "urls": {"model_urls": [], "event_urls": [], "artifact_urls": []}}
    if data.get("delete_contents"):
        _delete_contents(call, ids, reply)
    else:
        reply["disassociated_tasks"] = call.scope.tasks.clear_project(ids)
        call.scope.models.clear_project(ids)
    reply["deleted"] = call.scope.projects.delete_projects(ids)
    return reply


def _delete_contents(call: Call, project_ids: list[str], reply: dict) -> None:
    """Deletes the company's models and tasks in the projects, with their stored files and events."""
    scope = call.scope
    for model in scope.models.in_projects(project_ids):
        if removal.remove_model(scope, call.stores, model, call.data.get("delete_external_artifacts", True)):
            reply["deleted_models"] += 1
            if model.get("uri"):
                reply["urls"]["model_urls"].append(model["uri"])
    urls = reply["urls"]
    for task in scope.tasks.in_projects_for_removal(project_ids):
        for kind, found in removal.task_file_urls(scope, task).items():
            urls[kind] = sorted(set(urls[kind]) | set(found))
        scope.models.detach_from_task(task["_id"], tasks_db.DELETED_PREFIX + task["_id"])
        reply["deleted_tasks"] += removal.remove_task(scope, task["_id"])["deleted"]


# --- tags and metadata ---------------------------------------------------------------------------


def _tag_condition(call: Call) -> dict:
    data = call.data
    condition: dict = {}
    projects = data.get("projects")
    if projects:
        condition["project"] = {"$in": call.scope.projects.with_descendants(projects)}
    tag_filter = data.get("filter") or {}
    for tag_field in ("tags", "system_tags"):
        values = tag_filter.get(tag_field)
        if values:
            include = [v for v in values if not v.startswith("-")]
            exclude = [v[1:] for v in values if v.startswith("-")]
            operators = {}
            if include:
                operators["$in"] = include
            if exclude:
                operators["$nin"] = exclude
            condition[tag_field] = operators
    return condition


def _tags_reply(call: Call, resource, allow_public: bool) -> dict:
    """Sorted distinct non-empty tags (and system tags when asked) of the resource's documents."""
    condition = _tag_condition(call)

    def distinct(field: str) -> list:
        return sorted(v for v in resource.distinct(field, condition, allow_public=allow_public) if v not in (None, ""))

    reply = {"tags": distinct("tags")}
    if call.data.get("include_system"):
        reply["system_tags"] = distinct("system_tags")
    return reply


@handles("projects.get_model_tags")
def get_model_tags(call: Call) -> dict:
    return _tags_reply(call, call.scope.models, allow_public=True)


@handles("projects.get_task_tags")
def get_task_tags(call: Call) -> dict:
    return _tags_reply(call, call.scope.tasks, allow_public=False)


@handles("projects.get_model_metadata_keys")
def get_model_metadata_keys(call: Call) -> dict:
    data = call.data
    project = data.get("project")
    scope = call.scope.projects.scope_of([project] if project else None, data.get("include_subprojects", True))
    stored = call.scope.models.metadata_keys_in(scope)
    keys = sorted({metadata_keys.unescape_key(k) for k in stored})
    # JSON Schema counts 2.0 as an integer, so cast before slicing
    page, page_size = int(data.get("page") or 0), int(data.get("page_size") or 500)
    start = page * page_size
    chunk = keys[start:start + page_size]
    return {"keys": chunk, "remaining": max(0, len(keys) - start - len(chunk)), "total": len(keys)}


@handles("projects.get_model_metadata_values")
def get_model_metadata_values(call: Call) -> dict:
    data = call.data
    scope = call.scope.projects.scope_of(data.get("projects"), data.get("include_subprojects", True))
    key = metadata_keys.escape_key(data["key"], field="key")
    values = call.scope.models.metadata_values_in(scope, key, allow_public=data.get("allow_public", True))
    return {"total": len(values), "values": values}
