"""The server's JSON API: one POST per call, the ClearML envelope unwrapped."""

from __future__ import annotations

import requests

from client.profiles import Profile

EXTENSIONS = "2.99"  # modelreg's own endpoints and fields


class ApiFailure(Exception):
    """A call the server answered with an error (`code`, `subcode` as ClearML's), or could not answer."""

    def __init__(self, message: str, code: int = 0, subcode: int = 0, endpoint: str = ""):
        super().__init__(message)
        self.code, self.subcode, self.endpoint = code, subcode, endpoint


# answers that asking again later may not meet (a timeout, throttling, an overloaded or restarting server)
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def worth_retrying(code: int) -> bool:
    """An HTTP status (or an ApiFailure's code; 0: the server could not be reached) worth asking again for."""
    return code == 0 or code in RETRYABLE_STATUS


class NotAvailable(ApiFailure):
    """The server has no such endpoint (an older server, or a feature it does not offer)."""


class Api:
    def __init__(self, profile: Profile, timeout: float = 60.0):
        self.base = profile.server.rstrip("/")
        self.session = requests.Session()
        self.session.auth = (profile.access_key, profile.secret_key)
        self.timeout = timeout

    def url(self, endpoint: str, version: str = EXTENSIONS) -> str:
        return f"{self.base}/v{version}/{endpoint}"

    def call(self, endpoint: str, data: dict | None = None, version: str = EXTENSIONS) -> dict:
        try:
            reply = self.session.post(self.url(endpoint, version), json=data or {}, timeout=self.timeout)
        except requests.RequestException as exc:
            raise ApiFailure(f"cannot reach {self.base}: {exc}", endpoint=endpoint) from exc
        return self.unwrap(reply, endpoint)

    def lines(self, endpoint: str, data: dict):
        """The JSON lines of a streamed NDJSON reply (records, the audit trail), as bytes, without blank
        ones; an error reply raises as `call` does."""
        try:
            reply = self.session.post(self.url(endpoint), json=data, stream=True, timeout=self.timeout,
                                      headers={"Accept": "application/x-ndjson"})
        except requests.RequestException as exc:
            raise ApiFailure(f"cannot reach {self.base}: {exc}", endpoint=endpoint) from exc
        try:
            if reply.status_code != 200:
                self.unwrap(reply, endpoint)
            yield from (line for line in reply.iter_lines() if line)
        finally:
            reply.close()

    @staticmethod
    def unwrap(reply: requests.Response, endpoint: str) -> dict:
        try:
            body = reply.json()
        except ValueError:
            body = None
        meta = body.get("meta") if isinstance(body, dict) else None
        if reply.status_code == 200 and meta is not None:
            return body.get("data") or {}
        message = (meta or {}).get("result_msg") or reply.text[:200] or reply.reason
        code, subcode = (meta or {}).get("result_code", reply.status_code), (meta or {}).get("result_subcode", 0)
        if reply.status_code == 404 and subcode == 0 and "/files" not in reply.url:
            raise NotAvailable(f"{endpoint} is not available on this server", 404, 0, endpoint)
        raise ApiFailure(f"{endpoint}: {message}", code, subcode, endpoint)
