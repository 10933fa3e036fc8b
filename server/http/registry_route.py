"""The registry pages at `/registry/`: a small single-page app (plain HTML, CSS and JavaScript modules
from `registry_pages/`, no build step, nothing loaded from another host) for what is ours and not the
ClearML web app's: registered models, versions and aliases, the model card and lineage, promotion
review, records over time, the audit trail and webhooks.

The pages hold no data and no rules: they call the API (`/api/v2.99/...`) from the browser with the
`clearml_token_basic` cookie that `auth.login` sets, so every scope and role check of the API applies
to them as to any client. This module only serves the files; none needs credentials. Each page load
is counted and logged like an API call (server/http/call_record.py), as `registry.page`.
"""

from __future__ import annotations

from pathlib import Path

import falcon

from server.http import envelope
from server.http.call_record import CallRecord

FOLDER = Path(__file__).with_name("registry_pages")
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
# The pages run only their own files: no inline script, nothing from another origin.
LABEL = "registry.page"  # one label for every file: the metric never names a path
POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")


def _files() -> dict[str, Path]:
    """The servable files by name, listed once: a request can name nothing else (no path walks)."""
    return {p.name: p for p in FOLDER.iterdir() if p.is_file() and p.suffix in TYPES}


class RegistryFile:
    def __init__(self):
        self.files = _files()

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str = "index.html") -> None:
        record, trx = CallRecord(), envelope.new_call_id()
        meta = {"trx": trx, "endpoint": LABEL, "label": LABEL, "requested": None, "actual": None,
                "remote_addr": req.remote_addr, "identity": None, "result": None}
        resp.set_header(envelope.TRX_HEADER, trx)
        path = self.files.get(name)
        if path is None:
            record.finish(meta, 404, req.content_length, 0, False)
            raise falcon.HTTPNotFound()
        resp.content_type = TYPES[path.suffix]
        resp.set_header("Content-Security-Policy", POLICY)
        resp.set_header("X-Content-Type-Options", "nosniff")
        resp.set_header("Cache-Control", "no-cache")  # revalidated, so an upgrade is seen at once
        resp.data = path.read_bytes()
        record.finish(meta, 200, req.content_length, len(resp.data) if req.method == "GET" else 0, False)

    on_head = on_get


class RegistryRoot:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise falcon.HTTPMovedPermanently("/registry/")


def register(app: falcon.App) -> None:
    page = RegistryFile()
    app.add_route("/registry", RegistryRoot())
    app.add_route("/registry/", page)
    app.add_route("/registry/{name}", page)
