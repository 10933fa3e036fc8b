"""The table of handlers, keyed by endpoint name ("models.get_all"), composed explicitly.

A handler is a plain function `(Call) -> dict | StreamResult` marked with `@handles("service.action")`.
The schema files, not the code, say which versions of an endpoint exist; one handler serves them all
and asks `call` where they differ. `HANDLER_MODULES` lists every module that holds handlers: the app
composes its table from exactly these (like falcon's add_route), and the schema registry checks the
table against the schema files both ways at start.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

Handler = Callable[..., object]

HANDLER_MODULES = (  # the feature package and module of each, under services/
    "changes.audit", "changes.feed", "events.crud", "events.metrics", "identity.auth", "identity.login",
    "identity.users", "models.crud", "models.files", "models.history", "models.lifecycle", "models.registered",
    "models.runs", "models.versions", "orchestration.queue_views", "orchestration.queues", "orchestration.serving",
    "orchestration.workers", "projects.crud", "projects.names_and_tags", "projects.task_views",
    "promotion.protection", "promotion.requests", "records.crud", "records.datasets", "records.files",
    "records.ingest", "records.series", "system.debug", "system.exports", "system.organization", "system.reports",
    "system.server_info", "system.server_options", "system.storage", "tasks.crud", "tasks.lifecycle", "tasks.params",
    "uploads.finish", "uploads.parts", "uploads.sessions", "webhooks.crud", "webhooks.deliveries",
)
_MARK = "handles_endpoint"


def handles(endpoint: str) -> Callable[[Handler], Handler]:
    """Marks a function as the handler of `endpoint`; nothing is registered until the table is built."""

    def mark(func: Handler) -> Handler:
        setattr(func, _MARK, endpoint)
        return func

    return mark


def handler_table(module_names: tuple[str, ...] = HANDLER_MODULES) -> dict[str, Handler]:
    """{endpoint: handler} from the named `services.*` modules; two handlers for one endpoint are refused."""
    table: dict[str, Handler] = {}
    for name in module_names:
        module = importlib.import_module(f"services.{name}")
        for func in vars(module).values():
            endpoint = getattr(func, _MARK, None)
            if endpoint is None or getattr(func, "__module__", None) != module.__name__:
                continue
            if endpoint in table and table[endpoint] is not func:
                raise RuntimeError(f"two handlers for {endpoint}: {table[endpoint].__module__} and {module.__name__}")
            table[endpoint] = func
    return table


def all_handlers() -> dict[str, Handler]:
    return handler_table()
