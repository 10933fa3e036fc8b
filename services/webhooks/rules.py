"""What webhooks share: their settings, the kinds they subscribe to, the URL check, the signed request
and one attempt to send it through the guarded outbound client (services/shared/outbound.py).

A delivery is a POST of the JSON body with these headers:
- `X-Modelreg-Delivery`: the delivery id (the same on every retry of a delivery: receivers dedupe by it);
- `X-Modelreg-Event`: the entry's kind (`model.created`, ...; `ping` for webhooks.test);
- `X-Modelreg-Signature`: `sha256=` and the hex HMAC-SHA256 of the exact body bytes, keyed by the
  webhook's secret.
Only a 2xx answer counts as delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass

from services import errors
from services.shared import outbound
from services.shared.kept_connections import KeptConnections
from services.shared.outbound import OutboundPolicy

DELIVERY_HEADER = "X-Modelreg-Delivery"
EVENT_HEADER = "X-Modelreg-Event"
SIGNATURE_HEADER = "X-Modelreg-Signature"
# a kind (`model.created`), a trailing wildcard (`model.*`) or every kind (`*`)
KIND = re.compile(r"^(\*|[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?)$")
MAX_KINDS = 50
MAX_ANSWER_BYTES = 65536  # of the receiver's answer body, read and dropped


@dataclass(frozen=True)
class WebhookSettings:
    poll_interval_sec: float = 0.25
    attempt_timeout_sec: float = 10.0
    retry_window_sec: float = 86400.0
    backoff_base_sec: float = 5.0
    backoff_max_sec: float = 3600.0
    lease_sec: float = 60.0
    parallel: int = 4
    batch: int = 100
    checkpoint_every: int = 100
    checkpoint_sec: float = 1.0
    keep_delivered_sec: float = 7 * 86400.0
    max_per_company: int = 50
    keep_alive_sec: float = 4.0

    @classmethod
    def from_config(cls, config) -> WebhookSettings:
        tree = config.get("webhooks", None) if config is not None else None
        base = cls()
        values = {}
        for name, default in vars(base).items():
            found = tree.get(name, None) if tree is not None else None
            values[name] = default if found is None else type(default)(found)
        values["checkpoint_every"] = max(1, values["checkpoint_every"])
        settings = cls(**values)
        # an attempt must end inside the lease it was started under (one holder at a time)
        if settings.lease_sec < settings.attempt_timeout_sec * 2 + 5:
            settings = cls(**{**values, "lease_sec": settings.attempt_timeout_sec * 2 + 5})
        return settings


def policy(config, settings: WebhookSettings) -> OutboundPolicy:
    """The outbound policy of one attempt: the outbound.* settings, the attempt's timeout as its total."""
    base = OutboundPolicy.from_config(config)
    return OutboundPolicy.from_config(config, total_timeout_sec=settings.attempt_timeout_sec,
                                      connect_timeout_sec=min(base.connect_timeout_sec, settings.attempt_timeout_sec),
                                      read_timeout_sec=min(base.read_timeout_sec, settings.attempt_timeout_sec),
                                      max_bytes=MAX_ANSWER_BYTES)


# --- kinds ----------------------------------------------------------------------------------------


def checked_kinds(kinds: list) -> list[str]:
    if not kinds:
        raise errors.ValidationError("error for field 'kinds'. name at least one kind, or '*' for all")
    if len(kinds) > MAX_KINDS:
        raise errors.ValidationError(f"error for field 'kinds'. at most {MAX_KINDS} kinds")
    for kind in kinds:
        if not isinstance(kind, str) or not KIND.match(kind):
            raise errors.ValidationError("error for field 'kinds'. a kind is dotted lower-case words "
                                         "('model.created'), may end in '.*' ('model.*'), or is '*'",
                                         kind=str(kind)[:100])
    return list(dict.fromkeys(kinds))


def matches(kinds: list[str], kind: str) -> bool:
    for wanted in kinds:
        if wanted == "*" or wanted == kind or (wanted.endswith(".*") and kind.startswith(wanted[:-1])):
            return True
    return False


# --- URL -------------------------------------------------------------------------------------------


def _text(exc: outbound.QueryError) -> str:
    detail = ", ".join(f"{k}={v}" for k, v in exc.kwargs.items())
    return f"{exc.extra}: {detail}" if detail else str(exc.extra)


def checked_url(url: str, config) -> str:
    """Refuses (400 naming `url`) a URL the outbound guard would refuse: scheme, credentials, host, and
    its addresses now (the guard checks them again on every attempt)."""
    url = (url or "").strip()
    try:
        outbound.check_url(url, OutboundPolicy.from_config(config))
    except (outbound.OutboundRefused, outbound.OutboundFailed) as exc:
        raise errors.ValidationError(f"error for field 'url'. {_text(exc)}") from None
    return url


# --- the signed request --------------------------------------------------------------------------


def delivery_id(webhook_id: str, seq: int) -> str:
    """The id of the delivery of entry `seq` to a webhook: the same whoever sends it, however often."""
    return hashlib.sha256(f"{webhook_id}:{seq}".encode()).hexdigest()[:32]


def body_bytes(payload: dict) -> bytes:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()


def signature(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send(url: str, payload: dict, secret: str, delivery_id: str, kind: str, out_policy: OutboundPolicy,
         kept: KeptConnections | None = None) -> dict:
    """One attempt: {ok, status (HTTP status or None), error (text or None)}. Never raises for the
    receiver's failures: they are the delivery's outcome. `kept`: the delivery process's open connections."""
    body = body_bytes(payload)
    headers = {"Content-Type": "application/json", DELIVERY_HEADER: delivery_id, EVENT_HEADER: kind,
               SIGNATURE_HEADER: signature(body, secret)}
    try:
        response = outbound.request(url, out_policy, method="POST", body=body, headers=headers, kept=kept)
    except (outbound.OutboundRefused, outbound.OutboundFailed) as exc:
        return {"ok": False, "status": None, "error": _text(exc)[:500]}
    try:
        try:
            while response.read(MAX_ANSWER_BYTES):
                pass
        except (outbound.OutboundRefused, outbound.OutboundFailed):
            pass  # the answer's body does not matter, its status does
        ok = 200 <= response.status < 300
        return {"ok": ok, "status": response.status, "error": None if ok else f"HTTP {response.status}"}
    finally:
        response.close()
