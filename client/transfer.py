"""Uploads in parts (parallel, resumable, verified) and verified downloads.

Resume: the state of an unfinished upload (session id, the file's sha256, the parts started) is kept in
`~/.cache/modelreg/uploads/<key>.json`, the key made of the file's identity (state_path), so a changed or
replaced file never resumes an old session. Which parts the server already holds comes from
`uploads.get_status`, so a resume also works from another machine given the session id.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

from client.api import Api, ApiFailure, worth_retrying
from client.progress import Progress

CHUNK = 1024 * 1024
RETRIES = 4


class IntegrityFailure(ApiFailure):
    """The bytes do not have the sha256 they should."""


def state_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "modelreg" / "uploads"


def state_path(path: Path) -> Path:
    """Where the resume state of `path` is kept. The state caches the file's sha256, and a sha256 the server
    already holds completes an upload with nothing sent, so the key must change whenever the bytes may
    have: size and mtime alone do not (`cp -p`, `touch -r` and any utime call set mtime back). The
    kernel sets ctime on every write or metadata change and nothing can set it back, and device and inode
    tell a file renamed over the old one. Keying on them costs one stat; re-hashing the file to check the
    cached sha256 would read every byte again on each resume, the cost the cache exists to save."""
    st = path.stat()
    identity = (path.resolve(), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    key = hashlib.sha256("\0".join(map(str, identity)).encode()).hexdigest()[:32]
    return state_dir() / f"{key}.json"


def _is_sha256(value) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def _written_here(state) -> bool:
    """Whether `state` has the shape upload() writes. Anything else (edited by hand, another program's,
    damaged) is not trusted: a bad sha256 or session id would fail every run and the state would stay."""
    if not isinstance(state, dict) or not _is_sha256(state.get("sha256")):
        return False
    started = state.get("started", [])
    if not isinstance(started, list) or not all(type(n) is int for n in started):
        return False
    return all(isinstance(state[k], str) and state[k] for k in ("upload", "model") if k in state) and (
        state.get("version") is None or type(state["version"]) is int)


def _notice(text: str) -> None:
    print(f"modelreg: {text}", file=sys.stderr)


def _session_of(status: dict, size: int, sha256: str) -> bool:
    """Whether an upload session can hold this file: its size, and its file's sha256 once complete (an
    open session shows none; the server checks it at complete)."""
    stored = (status.get("file") or {}).get("sha256")
    return status.get("size") == size and stored in (None, sha256)


def _load(path: Path) -> dict:
    """The resume state kept at `path`, or {} to start over (with a one-line notice when a file was there
    but is not one this command wrote)."""
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError):
        state = None
    if _written_here(state):
        return state
    _notice(f"ignoring {path}: not a resume state this command wrote; starting the upload over")
    return {}


def _save(path: Path, state: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, path)


def file_sha256(path: Path, progress: Progress | None = None) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as source:
        while piece := source.read(CHUNK):
            hasher.update(piece)
            if progress:
                progress.update(len(piece))
    return hasher.hexdigest()


class _PartBody:
    """One part of the file as a request body of known length, read chunk by chunk."""

    def __init__(self, path: Path, offset: int, length: int, progress: Progress | None):
        self._file = open(path, "rb")  # noqa: SIM115 - closed by the sender
        self._file.seek(offset)
        self._left, self._progress = length, progress
        self.length = length

    def __len__(self) -> int:
        return self.length

    def read(self, size: int = -1) -> bytes:
        size = self._left if size is None or size < 0 else min(size, self._left)
        piece = self._file.read(size)
        self._left -= len(piece)
        if self._progress:
            self._progress.update(len(piece))
        return piece

    def close(self) -> None:
        self._file.close()


def upload(api: Api, path: Path, *, model: str | None = None, register: dict | None = None, parallel: int = 4,
           part_size: int | None = None, show_progress: bool = False, on_part=None, presigned: bool = True) -> dict:
    """Uploads `path` (resuming an earlier attempt on the same file) and returns uploads.complete's reply
    plus `sent_parts` and `resumed`. `on_part(number)` is called as each part starts (tests, bench).
    Parts go to the object store's presigned URLs when the server hands them out (`part_urls`) and
    `presigned` is on, else (or when the store refuses one) through the server.

    `register` (a `models.create` request without `uri`) makes the file a new model, a new version of its
    name: the stored file's uri is known once the upload completes, so the model is created then and
    pointed at the file by a second complete. The new model's id is kept with the resume state, so an
    upload interrupted after it was created makes no second model when run again; the reply then also
    holds `version`."""
    path = Path(path)
    size = path.stat().st_size
    saved_at = state_path(path)
    state = _load(saved_at)
    status = None
    if state.get("upload"):
        try:
            status = api.call("uploads.get_status", {"upload": state["upload"]})
        except ApiFailure:
            status = None
        if status is not None and not _session_of(status, size, state["sha256"]):
            _notice(f"ignoring {saved_at}: its upload {state['upload']} is for other bytes; starting the upload over")
            state, status = {}, None
    if not state.get("sha256"):
        hashing = Progress(size, f"hash {path.name}", show_progress)
        state = {"sha256": file_sha256(path, hashing), "started": []}
        hashing.finish()
        _save(saved_at, state)
    resumed = status is not None and status["status"] in ("open", "complete")
    if not resumed:
        request = {"size": size, "sha256": state["sha256"], **({"part_size": part_size} if part_size else {})}
        status = api.call("uploads.start", request)
        state.update(upload=status["upload"], started=[])
        _save(saved_at, state)
    sent = []
    if status["status"] == "open":
        sent = _send_parts(api, path, status, state, saved_at, parallel, show_progress, on_part, presigned)
    if register is not None and model is None:
        model = state.get("model") or _register(api, register, state, saved_at)
    reply = api.call("uploads.complete", {"upload": state["upload"], "sha256": state["sha256"],
                                          **({"model": model, "filename": path.name} if model else {})})
    saved_at.unlink(missing_ok=True)
    extra = {"version": state.get("version")} if register is not None else {}
    return {**reply, **extra, "sent_parts": sent, "resumed": resumed}


def _register(api: Api, request: dict, state: dict, saved_at: Path) -> str:
    """Creates the model an upload becomes (at the uri of the file the upload stored) and keeps its id
    and version with the resume state."""
    stored = api.call("uploads.complete", {"upload": state["upload"], "sha256": state["sha256"]})
    created = api.call("models.create", {**request, "uri": stored["file"]["uri"]})
    state.update(model=created["id"], version=created.get("version"))
    _save(saved_at, state)
    return created["id"]


def _send_parts(api: Api, path: Path, status: dict, state: dict, saved_at: Path, parallel: int, show_progress: bool,
                on_part, presigned: bool) -> list[int]:
    have = set(status.get("parts") or [])
    todo = [n for n in range(1, status["part_count"] + 1) if n not in have]
    size, part_size = status["size"], status["part_size"]
    progress = Progress(size, f"upload {path.name}", show_progress)
    progress.update(sum(min(part_size, size - (n - 1) * part_size) for n in have))
    lock = threading.Lock()

    def send(number: int) -> int:
        with lock:
            state["started"] = sorted(set(state.get("started", [])) | {number})
            _save(saved_at, state)
        if on_part:
            on_part(number)
        offset = (number - 1) * part_size
        length = min(part_size, size - offset)
        url = status["part_url"].replace("{part}", str(number))
        direct = (status.get("part_urls") or {}).get(str(number)) if presigned else None
        if direct and _send_direct(direct, path, offset, length, progress, api.timeout):
            return number  # else (an expired or refused URL) the part goes through the server
        for attempt in range(RETRIES):
            body = _PartBody(path, offset, length, progress)
            try:
                reply = api.session.put(url, data=body, timeout=api.timeout,
                                        headers={"Content-Type": "application/octet-stream"})
            except requests.RequestException as exc:
                reply, error = None, exc
            finally:
                body.close()
            if reply is not None and not worth_retrying(reply.status_code):
                api.unwrap(reply, "uploads.put_part")
                return number
            progress.update(-length)
            if attempt == RETRIES - 1:
                if reply is not None:
                    api.unwrap(reply, "uploads.put_part")
                raise ApiFailure(f"part {number} could not be sent: {error}", endpoint="uploads.put_part")
            time.sleep(0.5 * 2 ** attempt)
        return number

    try:
        with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
            return sorted(pool.map(send, todo))
    finally:
        progress.finish()


def _send_direct(url: str, path: Path, offset: int, length: int, progress: Progress, timeout: float) -> bool:
    """PUTs a part to a presigned object-store URL (no credentials: the URL carries the signature); False
    when the store did not take it, so the caller sends it through the server instead."""
    body = _PartBody(path, offset, length, progress)
    try:
        reply = requests.put(url, data=body, timeout=timeout)
        reply.close()
        taken = reply.status_code == 200
    except requests.RequestException:
        taken = False
    finally:
        body.close()
    if not taken:
        progress.update(-length)
    return taken


def announced_sha256(headers) -> str | None:
    """The sha256 a download announces (Repr-Digest, Digest, or an ETag of 64 hex digits)."""
    for name in ("Repr-Digest", "Digest"):
        for item in (headers.get(name) or "").split(","):
            algorithm, _, value = item.strip().partition("=")
            if algorithm.lower() == "sha-256" and value:
                return base64.b64decode(value.strip(":")).hex()
    etag = (headers.get("ETag") or "").strip('"')
    return etag if len(etag) == 64 and all(c in "0123456789abcdef" for c in etag) else None


def download(api: Api, model: str, target: Path, show_progress: bool = False) -> dict:
    """Writes the model's file to `target` (through a temporary file) and checks its sha256."""
    try:
        reply = api.session.post(api.url("models.download", "2.13"), json={"model": model}, stream=True,
                                 timeout=api.timeout)
    except requests.RequestException as exc:
        raise ApiFailure(f"cannot reach {api.base}: {exc}", endpoint="models.download") from exc
    if reply.status_code != 200:
        api.unwrap(reply, "models.download")
    expected = announced_sha256(reply.headers)
    total = int(reply.headers.get("Content-Length") or 0)
    progress = Progress(total, f"download {target.name}", show_progress)
    hasher, size = hashlib.sha256(), 0
    partial = target.with_name(target.name + ".part")
    try:
        with open(partial, "wb") as out:
            for piece in reply.iter_content(CHUNK):
                out.write(piece)
                hasher.update(piece)
                size += len(piece)
                progress.update(len(piece))
    finally:
        progress.finish()
        reply.close()
    if expected and hasher.hexdigest() != expected:
        partial.unlink(missing_ok=True)
        raise IntegrityFailure(f"sha256 mismatch: expected {expected}, received {hasher.hexdigest()}")
    os.replace(partial, target)
    return {"model": model, "path": str(target), "size": size, "sha256": hasher.hexdigest(), "verified": bool(expected)}
