"""The ClearML reply envelope and its JSON rendering."""

from __future__ import annotations

import logging
import os

from server.http.json_text import UNENCODABLE, encode
from services.call import Version, format_version

log = logging.getLogger("modelreg.envelope")


# What every reply of the API carries (RPC calls, /files, the OpenAPI document): set from here only.
EVERY_REPLY_HEADERS = (("Access-Control-Allow-Origin", "*"),)
TRX_HEADER = "X-Trx"  # every RPC and /files reply names its trx, equal to meta.trx and the log line's


def new_call_id() -> str:
    """32 random hex digits, as a ClearML call id looks (uuid4().hex cost a few times more, for its
    version bits no one reads)."""
    return os.urandom(16).hex()


def dumps(value) -> bytes:
    """The reply as JSON (server/http/json_text.py: compact UTF-8, datetimes as ISO 8601 with offset, never a
    bare NaN). A listing that holds a document JSON cannot carry (stored before the write-time limits of
    server.request_data, or written by other means) is sent without it, with a logged error, rather
    than failing for everyone who lists; any other unencodable value raises."""
    try:
        return encode(value)
    except UNENCODABLE:
        return encode(_without_unencodable_items(value))


def _without_unencodable_items(reply: dict) -> dict:
    data = reply.get("data") if isinstance(reply, dict) else None
    if not isinstance(data, dict):
        raise ValueError("reply cannot be encoded as JSON")
    kept = {}
    for key, value in data.items():
        if isinstance(value, list):
            value = [item for item in value if _encodable(item, key, reply)]
        kept[key] = value
    return {**reply, "data": kept}


def _encodable(item, listing: str, reply: dict) -> bool:
    try:
        encode(item)
    except UNENCODABLE as exc:
        meta = reply.get("meta") or {}
        item_id = (item.get("id") or item.get("_id")) if isinstance(item, dict) else None
        log.error("trx %s %s: left out of %r, cannot be encoded as JSON (%s): id=%s",
                  meta.get("trx"), (meta.get("endpoint") or {}).get("name"), listing, type(exc).__name__, item_id)
        return False
    return True


def _version_text(version: Version | None):
    return format_version(version) if version is not None else None


def build(
    *,
    call_id: str,
    trx: str,
    endpoint: str,
    requested: Version | None,
    actual: Version | None,
    code: int = 200,
    subcode: int = 0,
    msg: str = "OK",
    data: dict | None = None,
    error_data: dict | None = None,
) -> dict:
    return {
        "meta": {
            "id": call_id,
            "trx": trx or call_id,
            "endpoint": {
                "name": endpoint,
                "requested_version": _version_text(requested),
                "actual_version": _version_text(actual),
            },
            "result_code": code,
            "result_subcode": subcode,
            "result_msg": msg,
            "error_stack": None,
            "error_data": error_data or {},
        },
        "data": data if data is not None else {},
    }


def success(*, call_id: str, trx: str, endpoint: str, requested: Version | None, actual: Version | None,
            data: dict | None) -> bytes:
    """`dumps(build(...))` of a successful call, byte for byte, written without building and encoding the
    meta for every reply: only its few varying strings are encoded. Data JSON cannot carry takes the way
    of `dumps` (its listing items left out, or an error)."""
    if data is None:
        data = {}
    try:
        body = encode(data)
    except UNENCODABLE:
        return dumps(build(call_id=call_id, trx=trx, endpoint=endpoint, requested=requested, actual=actual, data=data))
    return b"".join((b'{"meta":{"id":', encode(call_id), b',"trx":', encode(trx or call_id),
                     b',"endpoint":{"name":', encode(endpoint), b',"requested_version":', _version_json(requested),
                     b',"actual_version":', _version_json(actual), b'},"result_code":200,"result_subcode":0,'
                     b'"result_msg":"OK","error_stack":null,"error_data":{}},"data":', body, b"}"))


def _version_json(version: Version | None) -> bytes:
    return b"null" if version is None else f'"{format_version(version)}"'.encode()


def meta_headers(*, trx: str, endpoint: str, requested: Version, actual: Version) -> dict[str, str]:
    """The meta of a successful call's envelope as headers, for a reply that has no envelope (NDJSON)."""
    return {
        "X-ClearML-Endpoint": endpoint,
        "X-ClearML-Trx": trx,
        "X-ClearML-Requested-Version": format_version(requested),
        "X-ClearML-Actual-Version": format_version(actual),
        "X-Result-Code": "200",
        "X-Result-Subcode": "0",
        "X-Result-Msg": "OK",
    }
