"""The ClearML files-server protocol under `/files` on the API port (`CLEARML_FILES_HOST=<api>/files`).

`POST /files[/<dir>]`: multipart/form-data, one or more parts; a part's name (the SDK sends the object
path, leading '/' included) is the path of the stored file, below <dir> when given; its bytes are kept
content-addressed (services/shared/files_protocol.py). Parts are streamed
to object storage, never held whole in memory (server/http/multipart.py). `GET|HEAD|DELETE /files/<path>`:
the object (GET honours a single `Range`). Basic or Bearer auth as for the API; every path is scoped to
the caller's company.
Failures answer with a JSON envelope, mapped from exceptions by services.failures as for RPC calls
(503 with Retry-After while the database or object store is away, or when the worker already serves
server.max_transfers uploads and downloads: the ClearML SDK retries those).
Each transfer is counted and logged like an RPC call (server/http/call_record.py), under a fixed name per
method (`LABELS`: never the path, whose values are unbounded), and its reply carries the `X-Trx` header.
"""

from __future__ import annotations

import re

import falcon

from server.http import call_log, cross_site, envelope, multipart
from server.http.auth_headers import TOKEN_COOKIE, authenticate, client_address
from server.http.backpressure import ClosingStream, StallAwareStream, drain_refused, refused
from server.http.call_record import CallRecord
from services import errors, failures
from services.shared import files_protocol, stored_files

ENDPOINT = "files"
LABELS = {"GET": "files.get", "HEAD": "files.head", "POST": "files.upload", "DELETE": "files.delete"}
SINGLE_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


def register(app: falcon.App, state) -> None:
    resource = FilesResource(state)
    app.add_route(stored_files.FILES_PREFIX, resource)
    app.add_route(stored_files.FILES_PREFIX + "/{path:path}", resource)


def parse_range(header: str | None) -> tuple[int, int | None] | None:
    """One `bytes=first-last` / `bytes=first-` / `bytes=-n` range; None (serve everything) otherwise."""
    match = SINGLE_RANGE.match(header or "")
    if not match or (not match[1] and not match[2]):
        return None
    if not match[1]:
        return (-int(match[2]), None) if int(match[2]) > 0 else None
    first, last = int(match[1]), int(match[2]) if match[2] else None
    if last is not None and last < first:
        return None
    return first, last

# A file is served with the media type its uploader named, on the API's own origin, so an uploaded HTML
# page opened by a signed-in user would otherwise run its scripts as that user's session. The sandbox
# gives such a page an origin of its own (scripts still run, so an HTML plot still draws, but it reaches
# neither the cookie nor the API as the user), and `nosniff` keeps a browser from taking a file for a
# page that was not declared one. ClearML's files server gets the same isolation from its own port.
SHOWN_INERT = (("X-Content-Type-Options", "nosniff"), ("Content-Security-Policy", "sandbox allow-scripts"))


class FilesResource:
    def __init__(self, state):
        self.state = state  # server.app.AppState

    # --- responders --------------------------------------------------------------------------------

    def on_post(self, req: falcon.Request, resp: falcon.Response, path: str = "") -> None:
        self._serve(req, resp, self._upload, path)

    def on_get(self, req: falcon.Request, resp: falcon.Response, path: str = "") -> None:
        self._serve(req, resp, self._download, path)

    def on_head(self, req: falcon.Request, resp: falcon.Response, path: str = "") -> None:
        self._serve(req, resp, self._head, path)

    def on_delete(self, req: falcon.Request, resp: falcon.Response, path: str = "") -> None:
        self._serve(req, resp, self._delete, path)

    def on_options(self, req: falcon.Request, resp: falcon.Response, path: str = "") -> None:
        resp.status = 200
        resp.set_headers(envelope.EVERY_REPLY_HEADERS)

    # --- the work ----------------------------------------------------------------------------------

    def _upload(self, req, resp, identity, path):
        stored = []
        try:
            for part in multipart.parts(self._body(req), req.content_type, req.content_length):
                name = multipart.file_name(part)
                if not name.strip("/"):  # a part must name its file (RFC 7578), else it takes the folder's path
                    raise errors.BadRequest("a part of the multipart body names no file (Content-Disposition name)")
                target = f"{path}/{name}" if path else name
                clean, blob = files_protocol.store_file(
                    self.state.stores, identity, target, part, None, part.content_type,
                    size_hint=req.content_length,
                )
                stored.append({"path": "/" + clean, "size": blob["size"], "sha256": blob["sha256"]})
        except errors.ApiError as exc:
            # Each whole part is stored as it arrives (a file is never held in memory): when a later part
            # fails, the earlier ones stay, and the error says which, so a client knows what to send again.
            if stored:
                exc.kwargs["stored_before_the_error"] = [s["path"] for s in stored]
            raise
        if not stored:
            raise errors.BadRequest("the multipart body holds no file")
        _json(resp, {"uploaded": stored})

    def _download(self, req, resp, identity, path):
        byte_range = parse_range(req.get_header("Range"))
        stream, sha256 = files_protocol.open_file(self.state.stores, identity, path, byte_range)
        resp.content_type = stream.content_type
        resp.content_length = stream.length
        resp.set_headers(SHOWN_INERT)
        resp.set_header("Accept-Ranges", "bytes")
        resp.set_headers(stored_files.digest_headers(sha256, stream.etag))
        if stream.partial:
            resp.status = falcon.HTTP_206
            last = stream.offset + stream.length - 1
            resp.set_header("Content-Range", f"bytes {stream.offset}-{last}/{stream.total_size}")
        release = resp.context.pop("release_transfer")  # given back once the last byte is sent
        resp.stream = ClosingStream(stream.chunks, stream.close, release)

    def _head(self, req, resp, identity, path):
        info, sha256 = files_protocol.stat_file(self.state.stores, identity, path)
        resp.content_type = info.content_type
        resp.content_length = info.size
        resp.set_headers(SHOWN_INERT)
        resp.set_header("Accept-Ranges", "bytes")
        resp.set_headers(stored_files.digest_headers(sha256, info.etag))

    def _delete(self, req, resp, identity, path):
        # Idempotent, like S3: the ClearML SDK deletes the file again after models.delete removed it,
        # and counts anything but 200 as a failure. Other companies' files are never touched.
        _json(resp, {"deleted": files_protocol.delete_file_at(self.state.stores, identity, path)})

    # --- plumbing ----------------------------------------------------------------------------------

    def _serve(self, req, resp, work, path) -> None:
        resp.set_headers(envelope.EVERY_REPLY_HEADERS)
        trx = req.get_header("X-ClearML-Trx") or envelope.new_call_id()
        resp.set_header(envelope.TRX_HEADER, trx)
        label = LABELS[req.method]
        meta = {"trx": trx, "endpoint": label, "label": label, "requested": None, "actual": None,
                "remote_addr": req.remote_addr, "identity": None, "result": None}
        record = CallRecord()  # counted and logged as RPC calls are
        release, unhandled = None, None
        try:
            stores = self.state.stores
            address = client_address(stores, req.remote_addr, req.get_header("X-Forwarded-For"))
            identity = authenticate(stores, req.get_header("Authorization"), req.cookies.get(TOKEN_COOKIE), address)
            meta["identity"] = identity
            if identity.session_cookie and req.method not in ("GET", "HEAD"):  # an upload or a delete
                cross_site.refuse_forgeable_change(req.method, req.content_type, req.get_header("Sec-Fetch-Site"))
            if work in (self._upload, self._download):
                # 503 when the worker serves enough of them, or enough of this company's
                release = self.state.transfers.acquire(identity.company)
                resp.context["release_transfer"] = release
            # uploads and deletes are logged in the change log like any API write ("files.POST", ...)
            # (inside the block whose one journal flush makes the call's writes and entries durable)
            with stores.acknowledged(), stores.recording(identity, f"files.{req.method}", "", trx):
                work(req, resp, identity, path)
            if work == self._upload:
                release()
        except Exception as exc:
            if release is not None:
                release()
            api_error = failures.to_api_error(exc, f"trx {trx} {req.method} {req.path}",
                                              stack=not call_log.active())  # else the call's line has it
            unhandled = exc if isinstance(api_error, errors.InternalError) else None
            meta["result"] = (api_error.code, api_error.subcode)
            self._error(req, resp, api_error, trx)
            if refused(api_error.code):
                drain_refused(self._body(req), req.content_length, self.state.refused_body_drain)
        streamed = resp.stream is not None
        if req.method == "HEAD":
            sent = 0
        elif streamed:
            sent = int(resp.content_length) if resp.content_length is not None else None  # a header: text
        else:
            sent = len(resp.data or b"")
        record.finish(meta, resp.status_code, req.content_length, sent, streamed, unhandled)

    @staticmethod
    def _body(req) -> StallAwareStream:
        """The request body, one reader per request (what was read of it is counted for `drain_refused`)."""
        body = req.context.get("body")
        if body is None:
            body = req.context["body"] = StallAwareStream(req.stream)
        return body

    def _error(self, req, resp, exc: errors.ApiError, trx: str) -> None:
        reply = envelope.build(
            call_id=envelope.new_call_id(), trx=trx, endpoint=ENDPOINT,
            requested=None, actual=None, code=exc.code, subcode=exc.subcode, msg=exc.message,
        )
        resp.status = exc.code
        resp.content_type = "application/json"
        resp.stream = None
        resp.data = b"" if req.method == "HEAD" else envelope.dumps(reply)
        if req.method == "HEAD":
            resp.content_length = 0
        if exc.retry_after:
            resp.set_header("Retry-After", str(exc.retry_after))
        if exc.code == 401:
            resp.set_header("WWW-Authenticate", 'Bearer realm="modelreg", Basic realm="modelreg"')
        if isinstance(exc, stored_files.RangeNotSatisfiable):
            resp.set_header("Content-Range", f"bytes */{exc.kwargs.get('size', 0)}")


def _json(resp: falcon.Response, value: dict) -> None:
    """A JSON reply rendered here, so its size is known to the call's record."""
    resp.content_type = "application/json"
    resp.data = envelope.dumps(value)
