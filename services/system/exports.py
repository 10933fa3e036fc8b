"""organization.prepare_download_for_get_all and organization.download_for_get_all: the web app's CSV
export of a table of tasks or models, as the ClearML server serves it (apiserver/services/organization.py).

`prepare` checks the listing request (against the entity's get_all_ex request schema, then by reading
one row), keeps it in MongoDB for the caller (`scope.prepared_downloads`, expiring after
`exports.prepared_sec`) and answers its id. `download` reads the rows page by page through the very
listing `models.get_all_ex` / `tasks.get_all_ex` serve (services/shared/listing.py: same scoping, filters,
joins and shapes) and streams them as CSV (services/system/csv_export.py), at most `exports.max_rows`
rows, one page in memory at a time. The web app opens the download in the browser: a GET with
`prepare_id` in the query string, signed in by its cookie.
"""

from __future__ import annotations

import copy
import dataclasses

from jsonschema.exceptions import best_match

from services import errors
from services.call import Call, StreamResult, format_version, parse_version
from services.handlers import handles
from services.shared import listing
from services.shared.stored_files import content_disposition
from services.system import csv_export

ENTITIES = {"task": "tasks", "model": "models"}
PAGING = ("scroll_id", "refresh_scroll", "start", "size", "page", "page_size")  # the export pages itself
MAX_PROJECT_NAME = 60  # characters of the project's name in the file name


def _settings(call: Call) -> tuple[float, int, int]:
    config = call.config
    page_size = min(int(config.get("exports.page_size", 500)), int(config.get("query.max_page_size", 500)))
    return float(config.get("exports.prepared_sec", 300)), int(config.get("exports.max_rows", 1000)), max(1, page_size)


def _page(call: Call, kind: str, data: dict, version, page: int, size: int) -> list[dict]:
    """One page of the listing, as `<kind>.get_all_ex` at `version` serves it to this caller."""
    request = {**data, "page": page, "page_size": size}
    as_listing = dataclasses.replace(call, endpoint=f"{kind}.get_all_ex", data=request, requested_version=version,
                                     actual_version=version)
    return listing.page(as_listing, listing.LISTINGS[kind], extended=True)[kind]


def _check_request(call: Call, kind: str, data: dict) -> None:
    """The kept request must be one `<kind>.get_all_ex` accepts: the download runs it later."""
    validator = call.stores.request_validators.get(f"{kind}.get_all_ex")
    if validator is None:
        return
    problem = best_match(validator.iter_errors(copy.deepcopy(data)))  # a copy: the check fills in defaults
    if problem is not None:
        field = ".".join(str(p) for p in problem.absolute_path) or "(body)"
        raise errors.ValidationError(f"error for field '{field}'. {problem.message[:300]}")


@handles("organization.prepare_download_for_get_all")
def prepare_download_for_get_all(call: Call) -> dict:
    data = {key: value for key, value in call.data.items() if key not in PAGING}
    csv_export.Columns(data["field_mappings"])  # each column and value name once, or 400 now
    kind = ENTITIES[data["entity_type"]]
    _check_request(call, kind, data)
    _page(call, kind, data, call.requested_version, 0, 1)  # a request that fails, fails here
    keep_sec, _, _ = _settings(call)
    prepare_id = call.scope.prepared_downloads.save(
        call.identity.user, {"request": data, "version": format_version(call.requested_version)}, keep_sec)
    return {"prepare_id": prepare_id}


@handles("organization.download_for_get_all")
def download_for_get_all(call: Call) -> StreamResult:
    prepare_id = call.data["prepare_id"]
    prepared = call.scope.prepared_downloads.load(prepare_id, call.identity.user)
    if prepared is None:
        raise errors.InvalidId("prepare ID not found", prepare_id=prepare_id)
    data, version = prepared["request"], parse_version(prepared["version"])
    kind = ENTITIES[data["entity_type"]]
    columns = csv_export.Columns(data["field_mappings"])
    _, max_rows, page_size = _settings(call)
    first = _page(call, kind, data, version, 0, page_size)  # before the first byte: a failure is an envelope

    def pages():
        docs, page, left = first, 0, max_rows
        while docs and left > 0:
            yield docs[:left]
            left -= len(docs)
            if len(docs) < page_size:
                return
            page += 1
            docs = _page(call, kind, data, version, page, page_size)

    name = "-".join(part for part in ("clearml", _project_name(call, data), f"{data['entity_type']}s.csv") if part)
    return StreamResult(csv_export.chunks(columns, pages()), None, "text/csv; charset=utf-8",
                        {"Content-Disposition": content_disposition(name)})


def _project_name(call: Call, data: dict) -> str | None:
    """The listed project's name when the request names exactly one ("root" for the top level)."""
    project = data.get("project")
    if isinstance(project, list):
        if len(project) != 1:
            return None
        project = project[0]
        if project is None:
            return "root"
    if not isinstance(project, str) or not project:
        return None
    doc = call.scope.projects.get(project, {"name": 1, "basename": 1})
    if doc is None:
        return None
    return (doc.get("basename") or str(doc.get("name") or "").rsplit("/", 1)[-1])[:MAX_PROJECT_NAME] or None
