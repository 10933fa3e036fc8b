"""`Scope`: every resource's collection as one company sees it, made once per call.

Handlers reach data only through `call.scope.<resource>` (services/call.py builds it from the caller's
identity), so no endpoint can forget whose data it may touch. Adding a resource: its `*_db.py` module
declares a `Resource` and a `ScopedCollection` subclass, and one property below makes it `scope.<name>`.
"""

from __future__ import annotations

from functools import cached_property

from pymongo.database import Database

from database import directory_db, events_db, model_versions_db, models_db, preferences_db, projects_db, tasks_db
from database.scoped import PageLimits

__all__ = ["PageLimits", "Scope"]


class Scope:
    def __init__(self, db: Database, company: str, limits: PageLimits | None = None):
        self.db = db
        self.company = company
        self.limits = limits or PageLimits()

    def _make(self, cls):
        return cls(self.db, self.company, self.limits)

    @cached_property
    def models(self) -> models_db.Models:
        return self._make(models_db.Models)

    @cached_property
    def tasks(self) -> tasks_db.Tasks:
        return self._make(tasks_db.Tasks)

    @cached_property
    def projects(self) -> projects_db.Projects:
        return self._make(projects_db.Projects)

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
