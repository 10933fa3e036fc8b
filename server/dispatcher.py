"""The path of one call: path -> endpoint version -> auth -> role -> body -> validation -> handler.

The order of checks follows ClearML's: a bad path is 400, an unknown endpoint 404, missing or bad
credentials 401, a role not allowed 403, a bad body 400 and a failed validation 400/12.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from jsonschema.exceptions import best_match

from database.errors import DATABASE_UNAVAILABLE, STORAGE_UNAVAILABLE, QueryError
from server import envelope, request_data
from server.auth import TOKEN_COOKIE, authenticate
from server.schema_registry import EndpointVersion
from services import errors, multipart_form
from services.call import Call, StreamResult, Version

log = logging.getLogger("modelreg.dispatcher")

PATH = re.compile(r"^/(?:api/)?(?:v(?P<version>\d+\.\d+)/)?(?P<endpoint>[A-Za-z_]\w+\.[A-Za-z_]\w+)/?$")
VERSION = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)$")
JSON_LINES = ("application/json-lines", "application/x-ndjson", "application/jsonl")
MAX_ERROR_TEXT = 300


@dataclass
class Outcome:
    """What the dispatcher decided; server/app.py writes it to the HTTP response."""

    status: int
    body: bytes = b""
    stream: StreamResult | None = None
    cookie_token: str | None = None


def _validation_message(error) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if error.message.count("'") >= 2 else error.message
        field = f"{path}.{missing}" if path else missing
        return f"error for field '{field}'. field is required!"
    text = error.message
    if len(text) > MAX_ERROR_TEXT:
        text = text[:MAX_ERROR_TEXT] + "..."
    return f"error for field '{path or '(body)'}'. {text}"


def validate(endpoint: EndpointVersion, data: dict) -> None:
    """Checks `data` in place against the endpoint's request schema, filling in defaults."""
    error = best_match(endpoint.validator.iter_errors(data))
    if error is not None:
        raise errors.ValidationError(_validation_message(error))


class Dispatcher:
    def __init__(self, state):
        self.state = state  # server.app.AppState; its registry may be swapped by a reload

    def dispatch(
        self, method: str, path: str, query: str, headers: dict, cookies: dict, body_stream, content_length
    ) -> Outcome:
        call_id = envelope.new_call_id()
        trx = headers.get("X-CLEARML-TRX") or headers.get("X-TRAINS-TRX") or call_id
        meta = {"call_id": call_id, "trx": trx, "endpoint": "", "requested": None, "actual": None}
        if method == "OPTIONS":
            return Outcome(200)
        try:
            return self._dispatch(meta, path, query, headers, cookies, body_stream, content_length)
        except errors.ApiError as exc:
            return self._error(meta, exc)
        except QueryError as exc:
            return self._error(meta, errors.from_database_error(exc))
        except DATABASE_UNAVAILABLE as exc:
            log.error("trx %s: database unavailable: %s", trx, exc)
            return self._error(meta, errors.DatabaseError("database unavailable"))
        except STORAGE_UNAVAILABLE as exc:
            log.error("trx %s: object storage error: %s", trx, exc)
            return self._error(meta, errors.StorageUnavailable())
        except Exception:
            log.exception("trx %s: unhandled error in %s", trx, meta["endpoint"] or path)
            return self._error(meta, errors.InternalError())

    def _dispatch(self, meta, path, query, headers, cookies, body_stream, content_length) -> Outcome:
        state = self.state
        match = PATH.match(path)
        if not match:
            raise errors.BadRequest(f"Invalid request path {path}")
        name = match["endpoint"]
        meta["endpoint"] = name
        requested = self._requested_version(match["version"])
        meta["requested"] = requested
        registry = state.registry
        endpoint = registry.resolve(name, requested)
        if endpoint is None:
            raise errors.EndpointNotFound(
                f"Unable to find endpoint for name {name} and version {requested[0]}.{requested[1]}"
            )
        meta["actual"] = endpoint.version

        identity = None
        if endpoint.authorize is not False:
            try:
                identity = authenticate(state.stores, headers.get("AUTHORIZATION"), cookies.get(TOKEN_COOKIE))
            except errors.ApiError:
                if endpoint.authorize is True:
                    raise
        if identity is not None and not endpoint.role_allowed(identity.role):
            raise errors.RoleNotAllowed(role=identity.role, endpoint=name)

        encoding = (headers.get("CONTENT-ENCODING") or "").strip().lower()
        if encoding not in ("", "identity"):
            raise errors.UnsupportedEncoding(f"request bodies must not be compressed, got {encoding!r}")

        object_keys = endpoint.object_keys
        params = request_data.parse_query_string(query, object_keys) if query else {}
        batch = None
        body = None
        content_type = (headers.get("CONTENT-TYPE") or "").split(";")[0].strip().lower()
        if endpoint.raw_body:
            data = params
            body = body_stream
        elif endpoint.form_body and content_type == "multipart/form-data":
            # the fields before the `file` part are the request; the file part streams to the handler
            form = multipart_form.MultipartForm(body_stream, headers.get("CONTENT-TYPE"), self.state.max_json_body)
            try:
                fields = form.read_fields()
            except multipart_form.FormCutOff as exc:
                raise errors.BadRequest(str(exc)) from None
            data = multipart_form.typed_fields(fields, endpoint.request_schema)
            data.update(params)
            body = form
        else:
            raw = self._read_body(body_stream, content_length)
            if endpoint.batch:
                batch = request_data.parse_json_lines(raw) if raw.strip() else []
                data = params
            elif content_type == "application/x-www-form-urlencoded":
                data = request_data.parse_query_string(raw.decode("utf-8", "replace"), object_keys)
                data.update(params)
            else:
                data = request_data.parse_json_body(raw)
                data.update(params)

        if endpoint.batch:
            for number, item in enumerate(batch):
                error = best_match(endpoint.validator.iter_errors(item))
                if error is not None:
                    raise errors.ValidationError(f"batch item {number}: {_validation_message(error)}")
        else:
            validate(endpoint, data)

        call = Call(
            endpoint=name,
            requested_version=requested,
            actual_version=endpoint.version,
            data=data,
            identity=identity,
            stores=state.stores,
            trx=meta["trx"],
            batch=batch,
            body=body,
            body_length=content_length,
            headers=headers,
            response_format=self._response_format(endpoint, headers),
        )
        result = state.handlers[name](call)
        if isinstance(result, StreamResult):
            return Outcome(result.status, stream=result)
        reply = envelope.build(
            call_id=meta["call_id"],
            trx=meta["trx"],
            endpoint=name,
            requested=requested,
            actual=endpoint.version,
            data=result,
        )
        token = result.get("token") if name == "auth.login" else None
        return Outcome(200, envelope.dumps(reply), cookie_token=token)

    @staticmethod
    def _response_format(endpoint: EndpointVersion, headers: dict) -> str:
        """"ndjson" when the endpoint version declares it and the Accept header asks for JSON lines."""
        if "ndjson" not in endpoint.stream_formats:
            return "json"
        accept = (headers.get("ACCEPT") or "").lower()
        return "ndjson" if any(kind in accept for kind in JSON_LINES) else "json"

    def _requested_version(self, text: str | None) -> Version:
        if text is None:
            return self.state.api_version
        if not VERSION.match(text):
            raise errors.InvalidVersion(version=text)
        major, minor = text.split(".")
        return int(major), int(minor)

    def _read_body(self, stream, content_length) -> bytes:
        limit = self.state.max_json_body
        if content_length is not None and content_length > limit:
            raise errors.RequestTooLarge(limit=limit)
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise errors.RequestTooLarge(limit=limit)
        return raw

    def _error(self, meta, exc: errors.ApiError) -> Outcome:
        reply = envelope.build(
            call_id=meta["call_id"],
            trx=meta["trx"],
            endpoint=meta["endpoint"],
            requested=meta["requested"],
            actual=meta["actual"],
            code=exc.code,
            subcode=exc.subcode,
            msg=exc.message,
        )
        return Outcome(exc.code, envelope.dumps(reply))
