"""The path of one call, one step each: resolve (path -> endpoint version), identify (credentials ->
identity, then its role), read the request (query string and body), validate, invoke (the handler with its
deadline and its transfer and long-read slots), render (the envelope, or the handler's stream).

The order of checks follows ClearML's: a bad path is 400, an unknown endpoint 404, missing or bad
credentials 401, a role not allowed 403, a bad body 400 and a failed validation 400/12.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from fastjsonschema import JsonSchemaValueException
from jsonschema.exceptions import best_match

from server.contract.schema_registry import EndpointVersion
from server.http import call_log, cross_site, envelope, multipart, ndjson, request_data
from server.http.auth_headers import TOKEN_COOKIE, authenticate, client_address
from server.http.backpressure import TransferSlots
from server.http.call_record import CallRecord
from services import errors, failures
from services.call import Call, DocumentStream, Identity, StreamResult, Version, parse_version

PATH = re.compile(r"^/(?:api/)?(?:v(?P<version>\d+\.\d+)/)?(?P<endpoint>[A-Za-z_]\w+\.[A-Za-z_]\w+)/?$")
MAX_ERROR_TEXT = 300
TRX_HEADER = envelope.TRX_HEADER
SIGN_OUT = frozenset({"login.logout", "auth.logout"})  # these clear the token cookie


@dataclass
class Outcome:
    """What the dispatcher decided; server/http/app.py writes it to the HTTP response."""

    status: int
    body: bytes = b""
    stream: StreamResult | None = None
    cookie_token: str | None = None
    clear_cookie: bool = False
    headers: dict[str, str] = field(default_factory=dict)  # extra response headers (Retry-After)


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


def validation_problem(endpoint: EndpointVersion, data: dict) -> str | None:
    """What is wrong with `data` against the endpoint's request schema, or None; fills in defaults and
    makes whole floats at integer-only places ints (request_values.IntegerFields), whatever the body kind.
    The compiled check passes a valid request; jsonschema judges (and words) anything it refuses."""
    return _problem(endpoint.integers, endpoint.fast_check, endpoint.validator, data)


def line_problem(endpoint: EndpointVersion, item: dict) -> str | None:
    """The same for one line of a JSON-lines body, against the version's `line_request`."""
    return _problem(endpoint.line_integers, endpoint.line_check, endpoint.line_validator, item)


def _problem(integers, fast_check, validator, data: dict) -> str | None:
    problem = integers.settle(data)
    if problem is not None:
        return problem
    if fast_check is not None:
        try:
            fast_check(data)
            return None
        except JsonSchemaValueException:
            pass
    error = best_match(validator.iter_errors(data))
    return None if error is None else _validation_message(error)


def validate(endpoint: EndpointVersion, data: dict) -> None:
    """Checks `data` in place against the endpoint's request schema, filling in defaults."""
    problem = validation_problem(endpoint, data)
    if problem is not None:
        raise errors.ValidationError(problem)


def _validate_request(endpoint: EndpointVersion, data: dict, batch: list[dict] | None) -> None:
    """The request, or each batch item, against the endpoint's request schema (400/12 naming the field)."""
    if batch is None:
        validate(endpoint, data)
        return
    for number, item in enumerate(batch):
        problem = validation_problem(endpoint, item)
        if problem is not None:
            raise errors.ValidationError(f"batch item {number}: {problem}")


class Dispatcher:
    def __init__(self, state):
        self.state = state  # server.app.AppState; its registry may be swapped by a reload
        config = state.stores.config
        self.limits = request_data.Limits.from_config(config)
        # all database work of one call (auth, then the handler) ends by this many seconds
        self.deadline = float(config.get("mongo.deadline_sec", 10)) if config is not None else None
        # a stream's first read (a sort of every match, a bad query) is bounded by this, not the deadline
        self.stream_start = float(config.get("mongo.stream_start_sec", 300)) if config is not None else None
        self.transfers: TransferSlots = state.transfers

    def dispatch(
        self, method: str, path: str, query: str, headers: dict, cookies: dict, body_stream, content_length,
        remote_addr: str | None = None,
    ) -> Outcome:
        call_id = envelope.new_call_id()
        trx = headers.get("X-CLEARML-TRX") or headers.get("X-TRAINS-TRX") or call_id
        meta = {"call_id": call_id, "trx": trx, "endpoint": "", "requested": None, "actual": None,
                "remote_addr": remote_addr, "identity": None, "result": None}
        if method == "OPTIONS":
            return Outcome(200)
        record = CallRecord()  # metrics and the call's log line (server/http/call_record.py)
        unhandled = None
        try:
            outcome = self._dispatch(meta, method, path, query, headers, cookies, body_stream, content_length)
        except Exception as exc:
            api_error = failures.to_api_error(exc, f"trx {trx} {meta['endpoint'] or path}",
                                              stack=not call_log.active())  # else the call's line has it
            unhandled = exc if isinstance(api_error, errors.InternalError) else None
            outcome = self._error(meta, api_error)
        outcome.headers[TRX_HEADER] = trx
        stream = outcome.stream
        record.finish(meta, outcome.status, content_length,
                      len(outcome.body) if stream is None else stream.content_length, stream is not None, unhandled)
        return outcome

    def _dispatch(self, meta, method, path, query, headers, cookies, body_stream, content_length) -> Outcome:
        """The path of one call; `meta` collects what an error envelope names (endpoint, versions)."""
        endpoint = self._resolve(meta, path)
        identity = meta["identity"] = self._identify(endpoint, method, headers, cookies, meta["remote_addr"])
        data, batch, body = self._read_request(endpoint, query, headers, body_stream, content_length)
        _validate_request(endpoint, data, batch)
        call = Call(
            endpoint=endpoint.name, requested_version=meta["requested"], actual_version=endpoint.version,
            data=data, identity=identity, stores=self.state.stores, trx=meta["trx"], batch=batch, body=body,
            body_length=content_length, headers=headers, response_format=self._response_format(endpoint, headers),
        )
        result = self._invoke(endpoint, call)
        return self._render(meta, call, result)

    # --- the steps, in the order a call takes them --------------------------------------------------

    def _resolve(self, meta: dict, path: str) -> EndpointVersion:
        """The path's endpoint at the highest version not above the requested one (400 for a path that
        names no endpoint, 404 for an endpoint or version the registry does not serve)."""
        match = PATH.match(path)
        if not match:
            raise errors.BadRequest(f"Invalid request path {path}")
        name = meta["endpoint"] = match["endpoint"]
        requested = meta["requested"] = self._requested_version(match["version"])
        endpoint = self.state.registry.resolve(name, requested)
        if endpoint is None:
            raise errors.EndpointNotFound(
                f"Unable to find endpoint for name {name} and version {requested[0]}.{requested[1]}"
            )
        meta["actual"] = endpoint.version
        return endpoint

    def _identify(self, endpoint: EndpointVersion, method: str, headers: dict, cookies: dict,
                  remote_addr) -> Identity | None:
        """Who calls (None for an endpoint that needs no one, or one where signing in is optional and the
        credentials do not hold), checked against the endpoint's roles: 401, then 403; a change signed by
        the session cookie alone also against another site's forgery (403)."""
        if endpoint.authorize is False:
            return None
        stores = self.state.stores
        try:
            address = client_address(stores, remote_addr, headers.get("X-FORWARDED-FOR"))
            with failures.deadline(self.deadline):
                identity = authenticate(stores, headers.get("AUTHORIZATION"), cookies.get(TOKEN_COOKIE), address)
        except errors.ApiError:
            if endpoint.authorize is True:
                raise
            return None
        if identity is not None and not endpoint.role_allowed(identity.role):
            raise errors.RoleNotAllowed(role=identity.role, endpoint=endpoint.name)
        if identity is not None and identity.session_cookie and endpoint.writes:
            cross_site.refuse_forgeable_change(method, headers.get("CONTENT-TYPE"), headers.get("SEC-FETCH-SITE"))
        return identity

    def _read_request(self, endpoint: EndpointVersion, query: str, headers: dict, stream, content_length):
        """The call's data (the query string's parameters over the body's), its batch items (None unless
        the endpoint takes a batch) and the body left for the handler to stream (raw bodies, forms)."""
        encoding = (headers.get("CONTENT-ENCODING") or "").strip().lower()
        if encoding not in ("", "identity"):
            raise errors.UnsupportedEncoding(f"request bodies must not be compressed, got {encoding!r}")
        limits = self.limits
        params = request_data.parse_query_string(query, endpoint.query_fields, limits) if query else {}
        if endpoint.raw_body and endpoint.line_validator is not None:
            lines = request_data.json_lines(stream, limits, lambda item: line_problem(endpoint, item), content_length,
                                            self.state.max_json_body)
            return params, None, lines
        if endpoint.raw_body:
            return params, None, stream
        content_type = (headers.get("CONTENT-TYPE") or "").split(";")[0].strip().lower()
        if endpoint.form_body and content_type == "multipart/form-data":
            data, form = self._read_form(endpoint, headers.get("CONTENT-TYPE"), stream, content_length)
            return {**data, **params}, None, form
        raw = self._read_body(stream, content_length)
        if endpoint.batch:
            return params, request_data.parse_json_lines(raw, limits) if raw.strip() else [], None
        if content_type == "application/x-www-form-urlencoded":
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise errors.BadRequest("Invalid request body: not UTF-8 text") from None
            data = request_data.parse_query_string(text, endpoint.query_fields, limits)
        else:
            data = request_data.parse_json_body(raw, limits)
        data.update(params)
        return data, None, None

    def _invoke(self, endpoint: EndpointVersion, call: Call):
        """The handler's result. A streamed reply (NDJSON, any `stream_formats`), a raw body and a call that
        waits on another machine (`transfer: true`, e.g. models.import_url) are transfers: their length
        depends on the client's speed, so they hold one of the worker's transfer slots (ServiceBusy, 503,
        when all are taken) and only each database operation in them is bounded (mongo.deadline_sec as the
        client's timeoutMS), not the call as a whole. The slots are given back when the reply ends."""
        long_read = call.response_format != "json"
        transfer = endpoint.transfer or endpoint.raw_body or endpoint.stream_response or long_read
        release = self.transfers.acquire(call.company) if transfer else None
        try:
            if long_read:
                # a stream of records also holds a slot under the per-company and the global caps, shared by
                # every worker and host (services/shared/long_reads.py)
                with failures.deadline(self.deadline):
                    release = _chain(release, self.state.stores.long_reads.acquire(call.company))
            # the change log's entries are written inside the block whose one journal flush makes them durable
            with (failures.deadline(None if transfer else self.deadline), self.state.stores.acknowledged(),
                  call.recording()):
                result = self.state.handlers[endpoint.name](call)
        except BaseException:
            if release is not None:
                release()
            raise
        if isinstance(result, (StreamResult, DocumentStream)):
            if release is not None:
                result.close = _chain(result.close, release)
        elif release is not None:
            release()
        return result

    def _render(self, meta: dict, call: Call, result) -> Outcome:
        """The reply: a handler's bytes as they are, its documents as NDJSON, anything else in the ClearML
        envelope."""
        if isinstance(result, StreamResult):
            return Outcome(result.status, stream=result)
        if isinstance(result, DocumentStream):
            headers = envelope.meta_headers(trx=meta["trx"], endpoint=call.endpoint,
                                            requested=call.requested_version, actual=call.actual_version)
            return Outcome(200, stream=ndjson.reply(result, headers, meta["trx"], self.stream_start))
        cut = call.page_cut
        if cut is not None and isinstance(result, dict):
            # a scrolled listing cut at server.max_reply_bytes says so; its scroll continues after it
            result = {**result, "page_cut": cut}
        body = envelope.success(call_id=meta["call_id"], trx=meta["trx"], endpoint=call.endpoint,
                                requested=call.requested_version, actual=call.actual_version, data=result)
        return Outcome(200, body, cookie_token=call.cookie_token, clear_cookie=call.endpoint in SIGN_OUT)

    # --- helpers of the steps -----------------------------------------------------------------------

    def _read_form(self, endpoint: EndpointVersion, content_type: str | None, stream, content_length):
        """A form body: the fields before the `file` part are the request, the file part streams to the
        handler."""
        form = multipart.Form(stream, content_type, content_length, self.state.max_json_body)
        fields = form.read_fields()
        return request_data.parse_form_fields(fields, endpoint.request_schema, self.limits), form

    @staticmethod
    def _response_format(endpoint: EndpointVersion, headers: dict) -> str:
        """"ndjson" when the endpoint version declares it and the Accept header asks for JSON lines."""
        if "ndjson" not in endpoint.stream_formats:
            return "json"
        accept = (headers.get("ACCEPT") or "").lower()
        return "ndjson" if any(kind in accept for kind in ndjson.ACCEPTED) else "json"

    def _requested_version(self, text: str | None) -> Version:
        if text is None:
            return self.state.api_version
        try:
            return parse_version(text)
        except ValueError:
            raise errors.InvalidVersion(version=text) from None

    def _read_body(self, stream, content_length) -> bytes:
        """The whole body; without a Content-Length (chunked) the stream is read to its end. Either way
        at most max_json_body + 1 bytes are read, so a larger body is refused without being read."""
        limit = self.state.max_json_body
        if content_length is not None and content_length > limit:
            raise errors.RequestTooLarge(limit=limit)
        if stream is None:
            return b""
        parts, size = [], 0
        # with a Content-Length, stop once it has all come: asking the stream again only to hear it end
        # costs a read through every layer of it
        while size <= limit and (content_length is None or size < content_length):
            chunk = stream.read(limit + 1 - size)
            if not chunk:
                break
            parts.append(chunk)
            size += len(chunk)
        if size > limit:
            raise errors.RequestTooLarge(limit=limit)
        return b"".join(parts)

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
        meta["result"] = (exc.code, exc.subcode)
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else {}
        return Outcome(exc.code, envelope.dumps(reply), headers=headers)


class _chain:  # noqa: N801 - used as a function
    """Calls both, the second even if the first fails (a transfer slot must always be returned)."""

    def __init__(self, first, second):
        self.first, self.second = first, second

    def __call__(self) -> None:
        try:
            if self.first is not None:
                self.first()
        finally:
            if self.second is not None:
                self.second()
