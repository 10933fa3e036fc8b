"""`GET /openapi.json` (generated from the live registry) and `GET /docs` (Swagger UI). Neither needs credentials.

Swagger UI's files come from the `openapi-ui-bundles` package and are served from here: the page
loads nothing from another host (and Swagger UI's online validator badge is turned off).
"""

from __future__ import annotations

import json
from pathlib import Path

import falcon

from server.contract.openapi import build_openapi
from server.http import envelope

ASSET_TYPES = {
    "swagger-ui-bundle.js": "application/javascript",
    "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <title>modelreg API</title>
  <link rel="stylesheet" type="text/css" href="/docs/assets/swagger-ui.css">
  <link rel="icon" type="image/png" href="/docs/assets/favicon-32x32.png" sizes="32x32">
  <style>body { margin: 0; }</style>
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js" charset="UTF-8"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      presets: [SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      docExpansion: "list",
      defaultModelsExpandDepth: 0,
      validatorUrl: null,
      tryItOutEnabled: false
    });
  </script>
</body>
</html>
"""

MISSING_ASSETS = (
    "The docs page needs the openapi-ui-bundles package (pip install openapi-ui-bundles). "
    "The OpenAPI document itself is at /openapi.json.\n"
)


def asset_dir() -> Path | None:
    try:
        import openapi_ui_bundles
    except ModuleNotFoundError:
        return None
    return Path(openapi_ui_bundles.swagger_ui.static_path)


class OpenApiDocument:
    """Built once per registry: a reload installs a new registry and the next GET sees it."""

    def __init__(self, state):
        self.state = state
        self._cache: tuple = (None, None, b"")

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        registry, version = self.state.registry, self.state.api_version
        cached = self._cache
        if cached[0] is not registry or cached[1] != version:
            cached = (registry, version, json.dumps(build_openapi(registry, version)).encode())
            self._cache = cached
        resp.content_type = "application/json"
        resp.set_headers(envelope.EVERY_REPLY_HEADERS)
        resp.data = cached[2]


class DocsPage:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if asset_dir() is None:
            resp.status = falcon.HTTP_503
            resp.content_type = "text/plain"
            resp.text = MISSING_ASSETS
            return
        resp.content_type = "text/html; charset=utf-8"
        resp.text = PAGE


class DocsAsset:
    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        folder = asset_dir()
        if name not in ASSET_TYPES or folder is None:
            raise falcon.HTTPNotFound()
        resp.content_type = ASSET_TYPES[name]
        resp.set_header("Cache-Control", "public, max-age=86400")
        resp.data = (folder / name).read_bytes()


def register(app: falcon.App, state) -> None:
    app.add_route("/openapi.json", OpenApiDocument(state))
    page = DocsPage()
    app.add_route("/docs", page)
    app.add_route("/docs/", page)
    app.add_route("/docs/assets/{name}", DocsAsset())
