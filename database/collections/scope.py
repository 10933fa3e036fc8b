"""`Scope`: every resource's collection as one company sees it, made once per call.

Handlers reach data only through `call.scope.<resource>` (services/call.py builds it from the caller's
identity), so no endpoint can forget whose data it may touch. Adding a resource: its `*_db.py` module
declares a `Resource` and a `ScopedCollection` subclass, and one property below makes it `scope.<name>`.
"""

from __future__ import annotations

from functools import cached_property

from pymongo.database import Database

from database.collections import (
    alias_rules_db,
    change_log_db,
    content_db,
    datasets_db,
    directory_db,
    events_db,
    file_paths_db,
    model_versions_db,
    models_db,
    preferences_db,
    prepared_downloads_db,
    projects_db,
    promotions_db,
    records_db,
    tasks_db,
    uploads_db,
    webhook_deliveries_db,
    webhooks_db,
)
from database.collections.recording import Recorder
from database.collections.scoped import PageLimits
from database.connection import Collections
from database.query.engine import QuerySpec
from database.query.specs import complete as complete_spec

__all__ = ["PageLimits", "Scope"]


def query_specs(request_schemas: dict[str, list[dict]]) -> dict[str, QuerySpec]:
    """{resource name: its query spec completed from the request schemas of `<name>.get_all` and
    `<name>.get_all_ex`}, given {endpoint name: [request schema of each version]}."""
    specs = {}
    for cls in RESOURCES:
        resource = cls.resource
        schemas = request_schemas.get(f"{resource.name}.get_all", []) + request_schemas.get(
            f"{resource.name}.get_all_ex", [])
        if resource.spec is not None and schemas:
            specs[resource.name] = complete_spec(resource.spec, schemas)
    return specs


class Scope:
    def __init__(self, db: Database, company: str, limits: PageLimits | None = None,
                 specs: dict[str, QuerySpec] | None = None, collections: Collections | None = None,
                 recorder: Recorder | None = None, project_paths: projects_db.PathLimits | None = None):
        self.db = db
        self.recorder = recorder  # the call's change recorder (database/collections/recording.py), or None
        self.company = company
        self.limits = limits or PageLimits()
        self.specs = specs or {}  # resource name -> query spec completed from the schema
        self.collections = collections or Collections(db)  # the app's, made once
        self.cut_pages: list[dict] = []  # listings of this call cut at the reply bound, every resource's
        self.project_paths = project_paths or projects_db.PathLimits()

    def _make(self, cls):
        scoped = cls(self.db, self.company, self.limits, self.specs.get(cls.resource.name), self.collections)
        scoped.cut_pages = self.cut_pages
        scoped.recorder = self.recorder
        return scoped

    @cached_property
    def change_log(self) -> change_log_db.CompanyLog:
        """The company's change log, read-only (services/changes)."""
        return change_log_db.CompanyLog(self.db, self.company)

    @cached_property
    def prepared_downloads(self) -> prepared_downloads_db.PreparedDownloads:
        """The company's prepared table exports, each its user's (services/system/exports.py)."""
        return prepared_downloads_db.PreparedDownloads(self.db, self.company)

    @cached_property
    def models(self) -> models_db.Models:
        return self._make(models_db.Models)

    @cached_property
    def tasks(self) -> tasks_db.Tasks:
        return self._make(tasks_db.Tasks)

    @cached_property
    def projects(self) -> projects_db.Projects:
        projects = self._make(projects_db.Projects)
        projects.path_limits = self.project_paths
        return projects

    @cached_property
    def events(self) -> events_db.Events:
        return self._make(events_db.Events)

    @cached_property
    def users(self) -> directory_db.Users:
        return self._make(directory_db.Users)

    @cached_property
    def preferences(self) -> preferences_db.Preferences:
        return self._make(preferences_db.Preferences)

    @cached_property
    def registered_models(self) -> model_versions_db.RegisteredModels:
        return self._make(model_versions_db.RegisteredModels)

    @cached_property
    def model_versions(self) -> model_versions_db.ModelVersions:
        return self._make(model_versions_db.ModelVersions)

    @cached_property
    def datasets(self) -> datasets_db.Datasets:
        return self._make(datasets_db.Datasets)

    @cached_property
    def records(self) -> records_db.Records:
        return self._make(records_db.Records)

    @cached_property
    def webhooks(self) -> webhooks_db.Webhooks:
        return self._make(webhooks_db.Webhooks)

    @cached_property
    def webhook_deliveries(self) -> webhook_deliveries_db.Deliveries:
        return self._make(webhook_deliveries_db.Deliveries)

    @cached_property
    def alias_rules(self) -> alias_rules_db.AliasRules:
        return self._make(alias_rules_db.AliasRules)

    @cached_property
    def promotions(self) -> promotions_db.Promotions:
        return self._make(promotions_db.Promotions)

    @cached_property
    def uploads(self) -> uploads_db.Uploads:
        return self._make(uploads_db.Uploads)

    @cached_property
    def content_files(self) -> content_db.ContentFiles:
        return self._make(content_db.ContentFiles)

    @cached_property
    def file_paths(self) -> file_paths_db.FilePaths:
        return self._make(file_paths_db.FilePaths)


RESOURCES = (models_db.Models, tasks_db.Tasks, projects_db.Projects, events_db.Events, directory_db.Users,
             preferences_db.Preferences, model_versions_db.RegisteredModels, model_versions_db.ModelVersions,
             datasets_db.Datasets, records_db.Records, webhooks_db.Webhooks,
             webhook_deliveries_db.Deliveries, alias_rules_db.AliasRules, promotions_db.Promotions,
             uploads_db.Uploads, content_db.ContentFiles, file_paths_db.FilePaths)
