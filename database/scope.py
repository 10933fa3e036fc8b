"""`Scope`: every resource's collection as one company sees it, made once per call.

Handlers reach data only through `call.scope.<resource>` (services/call.py builds it from the caller's
identity), so no endpoint can forget whose data it may touch. Adding a resource: its `*_db.py` module
declares a `Resource` and a `ScopedCollection` subclass, and one line below makes it `scope.<name>`.
"""

from __future__ import annotations

from functools import cached_property

from pymongo.database import Database

from database import datasets_db, events_db, models_db, projects_db, records_db, tasks_db
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
    def datasets(self) -> datasets_db.Datasets:
        return self._make(datasets_db.Datasets)

    @cached_property
    def records(self) -> records_db.Records:
        return self._make(records_db.Records)
