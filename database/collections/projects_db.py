"""Projects: a tree of named folders (full `/` paths) that tasks and models live in.

Collection `projects`, one document per project:
`{_id, company, user, name (full path "a/b/c"), basename ("c"), parent (id or None), path (ancestor ids,
root first), description, tags, system_tags, default_output_destination, created, last_update}`.
A public project has `company == ""`; scoping is database/collections/scoped.py's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pymongo import ASCENDING
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError

from database import clock, ids
from database.collections.scoped import PUBLIC, Resource, ScopedCollection
from database.errors import QueryError
from database.query import engine

PROJECTS = "projects"
MIN_BASENAME = 3
HIDDEN_TAG = "hidden"


class InvalidProjectName(QueryError):
    pass


class ProjectNameTooShort(QueryError):
    pass


class ProjectPathTooDeep(QueryError):
    pass


class ProjectNameTooLong(QueryError):
    pass


class PublicProjectExists(QueryError):
    pass


class DuplicateProjectName(QueryError):
    pass


class InvalidProjectId(QueryError):
    pass


# What the schema cannot say; the list and date filters come from projects.get_all's request schema
# (database/query/specs.py). `path` is the server's own filter (parent ids, include_subprojects).
SPEC = engine.QuerySpec(
    list_fields=frozenset({"path"}),
    pattern_fields=frozenset({"name", "basename", "description"}),
    equality_fields=frozenset({"company"}),
    text_fields=("name", "basename", "description", "id"),
    known_fields=frozenset({"id", "company", "user", "name", "basename", "description", "created", "tags",
                            "system_tags", "default_output_destination", "last_update", "parent", "path",
                            # ClearML's featured rank (web app's order_by); never stored here, so all tie
                            "featured"}),
    # the embedded server's clause order (database/query/shape.py)
    narrow_first=("parent", "name", "user", "tags"),
    wide_last=("system_tags",),
)
RESOURCE = Resource("projects", PROJECTS, SPEC)


def ensure_indexes(db: Database) -> None:
    coll = db[PROJECTS]
    coll.create_index([("company", ASCENDING), ("name", ASCENDING)], unique=True)
    coll.create_index([("company", ASCENDING), ("basename", ASCENDING)])
    coll.create_index([("parent", ASCENDING)])
    coll.create_index([("path", ASCENDING)])
    coll.create_index([("company", ASCENDING), ("system_tags", ASCENDING)])
    coll.create_index([("company", ASCENDING), ("tags", ASCENDING)])


def normalize_name(name: str | None) -> str:
    """`" a//b/ "` -> `"a/b"`: trimmed parts, empty ones dropped. An empty result raises 400/407."""
    parts = [p.strip() for p in (name or "").split("/")]
    parts = [p for p in parts if p]
    if not parts:
        raise InvalidProjectName("project name must not be empty", name=name or "")
    return "/".join(parts)


def split_name(name: str) -> tuple[str, str]:
    """`"a/b/c"` -> `("a/b", "c")`."""
    prefix, _, basename = name.rpartition("/")
    return prefix, basename


def check_basename(name: str, field: str = "name") -> None:
    for part in name.split("/"):
        if len(part) < MIN_BASENAME:
            raise ProjectNameTooShort(
                f"error for field {field!r}. project name parts need at least {MIN_BASENAME} characters", name=name
            )


@dataclass(frozen=True)
class PathLimits:
    """Bounds on a project's full name (settings projects.max_depth and projects.max_name_chars)."""

    max_depth: int = 10  # ClearML's default (its services.projects.sub_projects.max_depth)
    max_name_chars: int = 1024


def check_path(name: str, limits: PathLimits, field: str = "name", extra: str | None = None) -> None:
    """Refuses a normalized full name deeper or longer than `limits`. Every caller checks before it
    writes: missing parents are created one at a time, so an unbounded path would keep writing until the
    call's deadline and leave the parents made so far behind. The name itself is never echoed (it may
    be megabytes)."""
    depth = name.count("/") + 1
    if depth > limits.max_depth:
        raise ProjectPathTooDeep(extra, field=field, depth=depth, max_depth=limits.max_depth)
    if len(name) > limits.max_name_chars:
        raise ProjectNameTooLong(extra or f"project names have at most {limits.max_name_chars} characters",
                                 field=field, length=len(name), max_name_chars=limits.max_name_chars)


def new_project_doc(user: str, name: str, parent: dict | None, description: str = "",
                    tags: list | None = None, system_tags: list | None = None,
                    default_output_destination: str | None = None) -> dict:
    when = clock.now()
    doc = {
        "_id": ids.new_id(),
        "user": user,
        "name": name,
        "basename": split_name(name)[1],
        "parent": parent["_id"] if parent else None,
        "path": (list(parent.get("path") or []) + [parent["_id"]]) if parent else [],
        "description": description or "",
        "tags": sorted(set(tags or [])),
        "system_tags": sorted(set(system_tags or [])),
        "created": when,
        "last_update": when,
    }
    if default_output_destination:
        doc["default_output_destination"] = default_output_destination
    return doc


class Projects(ScopedCollection):
    """The projects one company sees (own and public) and changes (own)."""

    resource = RESOURCE
    path_limits = PathLimits()  # the app's settings, set by Scope

    def checked_name(self, name: str | None, field: str = "name") -> str:
        """`name` normalized (normalize_name), refused past the path limits before anything is looked up
        or written."""
        name = normalize_name(name)
        check_path(name, self.path_limits, field)
        return name

    def find_by_name(self, name: str) -> dict | None:
        """The company's own project named exactly `name` (full path)."""
        return self.find_one({"name": name}, own_only=True)

    def public_name_exists(self, name: str) -> bool:
        return self.collection.find_one({"company": PUBLIC, "name": name}, {"_id": 1}) is not None

    def _insert_new(self, doc: dict) -> dict | None:
        """Inserts `doc`; None when a project of that name appeared meanwhile."""
        try:
            return self.insert(doc)
        except DuplicateKeyError:
            return None

    def _ensure_parents(self, user: str, name: str) -> dict | None:
        """The parent project of `name`, creating any missing ancestors. None for a root-level name."""
        prefix, _ = split_name(name)
        if not prefix:
            return None
        parent = None
        parts = prefix.split("/")
        for depth in range(1, len(parts) + 1):
            path_name = "/".join(parts[:depth])
            existing = self.find_by_name(path_name)
            if existing is None:
                existing = self._insert_new(new_project_doc(user, path_name, parent)) or self.find_by_name(path_name)
            parent = existing
        return parent

    def create_project(self, user: str, name: str, description: str = "", tags: list | None = None,
                       system_tags: list | None = None, default_output_destination: str | None = None) -> dict:
        """Creates a project (and any missing parents of a `/` path). A taken name raises 400/801; a path
        past the limits (checked_name) 400/409 or 400/800, with nothing written."""
        name = self.checked_name(name)
        check_basename(name)
        if self.find_by_name(name) is not None:
            raise DuplicateProjectName(name=name)
        parent = self._ensure_parents(user, name)
        doc = new_project_doc(user, name, parent, description, tags, system_tags, default_output_destination)
        if self._insert_new(doc) is None:
            raise DuplicateProjectName(name=name)
        return doc

    def ensure_project_path(self, user: str, name: str, field: str = "project_name") -> str:
        """The id of the company's project named `name` (a `/` path), created with its parents if missing.

        Used by models.move / tasks.move (project_name), tasks.clone (new_project_name) and the SDK flows.
        A path past the limits raises 400/409 or 400/800 naming `field`; a name that exists only as a
        public project raises 400/414; a part shorter than 3 characters raises 400/800.
        """
        name = self.checked_name(name, field)
        existing = self.find_by_name(name)
        if existing is not None:
            return existing["_id"]
        if self.company and self.public_name_exists(name):
            raise PublicProjectExists(name=name)
        check_basename(name, field)
        parent = self._ensure_parents(user, name)
        doc = new_project_doc(user, name, parent)
        if self._insert_new(doc) is None:
            return self.find_by_name(name)["_id"]
        return doc["_id"]

    def descendant_ids(self, project_ids: Iterable[str]) -> list[str]:
        """All readable projects below the given ones (not including them)."""
        ids = [i for i in project_ids if i]
        if not ids:
            return []
        return [d["_id"] for d in self.find({"path": {"$in": ids}}, {"_id": 1})]

    def with_descendants(self, project_ids: Iterable[str]) -> list[str]:
        """The given ids followed by every readable project below them."""
        ids = [i for i in project_ids if i]
        return ids + [i for i in self.descendant_ids(ids) if i not in ids]

    def scope_of(self, project_ids: Iterable[str] | None, include_subprojects: bool = True) -> list[str] | None:
        """The projects a request about `project_ids` covers (their descendants too when asked);
        None when no project is named (no restriction)."""
        if not project_ids:
            return None
        return self.with_descendants(project_ids) if include_subprojects else list(project_ids)

    def with_ancestors(self, project_ids: Iterable[str]) -> list[str]:
        """The given ids and the ids of every project above them."""
        ids = [i for i in project_ids if i]
        out = dict.fromkeys(ids)
        for doc in self.get_many(ids, {"path": 1}):
            out.update(dict.fromkeys(doc.get("path") or []))
        return list(out)

    def descendants_by_project(self, project_ids: Iterable[str]) -> dict[str, list[dict]]:
        """{project id: [{id, name} of every readable project below it, by name]}."""
        ids = list(project_ids)
        below: dict[str, list[dict]] = {i: [] for i in ids}
        for doc in self.find({"path": {"$in": ids}}, {"name": 1, "path": 1}, sort=[("name", 1)]):
            for ancestor in doc.get("path") or []:
                if ancestor in below:
                    below[ancestor].append({"id": doc["_id"], "name": doc["name"]})
        return below

    def update_project(self, project_id: str, fields: dict) -> int:
        """Sets plain fields (not name) on an own project; returns the matched count."""
        return self.update(project_id, {"$set": fields}) if fields else 0

    def rename_project(self, project: dict, new_name: str) -> None:
        """Renames an own project (moving it under a new parent, created if missing) and rewrites its
        descendants. Every new name is checked against the path limits before the first write."""
        new_name = self.checked_name(new_name)
        check_basename(new_name)
        if new_name == project["name"]:
            return
        if self.find_by_name(new_name) is not None:
            raise DuplicateProjectName(name=new_name)
        if new_name.startswith(project["name"] + "/"):
            raise InvalidProjectName("a project cannot move below itself", name=new_name)
        old_prefix = project["name"] + "/"
        children = [(child, new_name + "/" + child["name"][len(old_prefix):])
                    for child in self.find({"path": project["_id"]}, own_only=True)]
        for _, child_name in children:
            check_path(child_name, self.path_limits, extra="a subproject's new name would pass the limit")
        parent = self._ensure_parents(project.get("user", ""), new_name)
        new_path = (list(parent.get("path") or []) + [parent["_id"]]) if parent else []
        when = clock.now()
        self.update(project["_id"], {"$set": {
            "name": new_name, "basename": split_name(new_name)[1], "parent": parent["_id"] if parent else None,
            "path": new_path, "last_update": when}})
        for child, child_name in children:
            index = child["path"].index(project["_id"])
            self.update(child["_id"], {"$set": {"name": child_name, "path": new_path + child["path"][index:],
                                                "last_update": when}})

    def delete_projects(self, project_ids: Iterable[str]) -> int:
        ids = list(project_ids)
        return self.delete_many({"_id": {"$in": ids}}) if ids else 0
