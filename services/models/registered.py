"""models.get_registered (modelreg extension, 2.99): the caller's company's registered models, a page at
a time, for the registry pages (server/http/registry_route.py): name, project, the last version number
given and the aliases, so a listing of 100,000 models never reads the models themselves."""

from __future__ import annotations

from services.call import Call
from services.handlers import handles
from services.shared import lookups


@handles("models.get_registered")
def get_registered(call: Call) -> dict:
    data = call.data
    in_project = "project" in data
    project = data.get("project") or None
    if project:
        lookups.readable_project(call.scope, project)
    size = data["page_size"]
    docs, total = call.scope.registered_models.listing(data.get("search") or None, project, in_project,
                                                       data["page"] * size, size)
    aliased = [m for doc in docs for m in (doc.get("aliases") or {}).values()]
    alive = call.scope.models.readable_ids(aliased) if aliased else set()  # an aliased version may be gone
    return {
        "registered": [{
            "id": doc["_id"], "name": doc["name"], "project": doc.get("project"),
            "last_version": int(doc.get("last_version") or 0),
            "aliases": {a: m for a, m in sorted((doc.get("aliases") or {}).items()) if m in alive},
            "created": doc.get("created"),
        } for doc in docs],
        "total": total,
    }
