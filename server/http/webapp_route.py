"""Optional: serves a user-provided build of the ClearML web app at `/` (config `server.webapp_dir`,
env MODELREG_WEBAPP_DIR), so one process serves the API, the model files and the user interface.

Only GET and HEAD are considered, and never for API paths (`/api/...`, `/v<major>.<minor>/...`):
1. `/configuration.json` is generated: the build's own file (if any) with `apiBaseUrl` and
   `fileBaseUrl` pointing at this server, so the same build works behind any host name.
2. A file of the folder is served as it is.
3. A path that is not an API call (`/projects/...`, `/login`) gets `index.html`: the web app's own
   router takes it from there.
Everything else (POST, unversioned API calls such as `/models.get_all`) goes on to the API sink.
`/files/...`, `/docs` and `/openapi.json` are falcon routes and never reach here.
"""

from __future__ import annotations

import json
import mimetypes
import re
from pathlib import Path

import falcon

from server.http.dispatcher import PATH as API_PATH

API_PREFIX = re.compile(r"^/(api|v\d+\.\d+)(/|$)")
CONFIGURATION = "configuration.json"
# Where the web app finds us; relative, so it works behind any host name or proxy.
OVERRIDES = {"apiBaseUrl": "/api", "fileBaseUrl": "/files"}


class WebappError(RuntimeError):
    pass


def wrap(api_sink, config):
    """The sink to install at `/`: the API sink itself, or the web app in front of it when configured."""
    folder = config.get("server.webapp_dir", "") or ""
    if not folder:
        return api_sink
    return WebappSink(Path(folder), api_sink)


def generated_configuration(folder: Path) -> bytes:
    own = {}
    path = folder / CONFIGURATION
    if path.is_file():
        try:
            loaded = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise WebappError(f"{path} is not valid JSON: {exc}") from exc
        own = loaded if isinstance(loaded, dict) else {}
    return json.dumps({**own, **OVERRIDES}, indent=2).encode()


class WebappSink:
    def __init__(self, folder: Path, api_sink):
        self.root = folder.resolve()
        if not (self.root / "index.html").is_file():
            raise WebappError(f"server.webapp_dir {folder} has no index.html (see README: the ClearML web app)")
        self.api = api_sink
        self.configuration = generated_configuration(self.root)

    def __call__(self, req: falcon.Request, resp: falcon.Response, **kwargs):
        path = req.path
        if req.method not in ("GET", "HEAD") or API_PREFIX.match(path):
            return self.api(req, resp, **kwargs)
        if path == "/" + CONFIGURATION:
            return self._bytes(resp, self.configuration, "application/json")
        found = self._file(path)
        if found is not None:
            return self._send(resp, found, cache=found.name != "index.html")
        if API_PATH.match(path):  # an unversioned API call by GET, as the ClearML SDK makes them
            return self.api(req, resp, **kwargs)
        return self._send(resp, self.root / "index.html", cache=False)

    def _file(self, path: str) -> Path | None:
        parts = [p for p in path.split("/") if p]
        if any(p in (".", "..") or "\\" in p for p in parts):
            return None
        candidate = (self.root.joinpath(*parts) if parts else self.root / "index.html").resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate

    def _send(self, resp: falcon.Response, file: Path, cache: bool) -> None:
        resp.status = falcon.HTTP_200
        resp.content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if not cache:  # a new build must reach browsers at once; hashed asset names may be cached
            resp.set_header("Cache-Control", "no-cache")
        resp.content_length = file.stat().st_size
        resp.stream = file.open("rb")

    def _bytes(self, resp: falcon.Response, data: bytes, content_type: str) -> None:
        resp.status = falcon.HTTP_200
        resp.content_type = content_type
        resp.set_header("Cache-Control", "no-cache")
        resp.data = data
