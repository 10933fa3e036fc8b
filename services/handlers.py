"""The table of handlers, keyed by endpoint name ("models.get_all").

A handler is a plain function `(Call) -> dict | StreamResult`. The schema files, not the code, say
which versions of an endpoint exist; one handler serves them all and asks `call` where they differ.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

Handler = Callable[..., object]

_HANDLERS: dict[str, Handler] = {}


def handles(endpoint: str) -> Callable[[Handler], Handler]:
    def register(func: Handler) -> Handler:
        if endpoint in _HANDLERS and _HANDLERS[endpoint] is not func:
            raise RuntimeError(f"two handlers for {endpoint}")
        _HANDLERS[endpoint] = func
        return func

    return register


def all_handlers() -> dict[str, Handler]:
    """Imports every service module (which registers its handlers) and returns the table."""
    import services

    for module in pkgutil.iter_modules(services.__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"services.{module.name}")
    return dict(_HANDLERS)
