"""What every uploads handler shares: the settings, part sizing within S3's limits, the session lookup
and its public shape."""

from __future__ import annotations

from dataclasses import dataclass

from services import errors
from services.call import Call
from services.models.store import public_base_url

MIB = 1024 * 1024
MIN_PART = 5 * MIB  # S3: every part but the last
MAX_PART = 5 * 1024 * MIB
MAX_PARTS = 10_000
API_VERSION = "2.99"


@dataclass(frozen=True)
class Settings:
    part_size: int
    expiry_sec: float
    sweep_interval_sec: float
    complete_lease_sec: float
    presigned_parts: bool


def settings(config) -> Settings:
    section = config.get("uploads", None) if config is not None else None
    get = (lambda k, d: section.get(k, d)) if section is not None else (lambda k, d: d)
    presigned = bool(get("presigned_parts", False)) and bool(config.get("s3.public_endpoint", ""))
    return Settings(part_size=int(get("part_size", 16 * MIB)), expiry_sec=float(get("expiry_sec", 86400)),
                    sweep_interval_sec=float(get("sweep_interval_sec", 300)),
                    complete_lease_sec=float(get("complete_lease_sec", 600)), presigned_parts=presigned)


def choose_part_size(size: int, wished: int | None, default: int) -> int:
    """The wished (or default) size in whole MiB, raised so that the file needs at most 10,000 parts,
    and kept within S3's 5 MiB..5 GiB."""
    chosen = max(int(wished or default), MIN_PART, -(-size // MAX_PARTS))
    chosen = -(-chosen // MIB) * MIB
    return min(chosen, MAX_PART)


def part_count(size: int, part_size: int) -> int:
    return max(1, -(-size // part_size))


def part_length(session: dict, number: int) -> int:
    """Bytes of part `number`: the part size, the rest for the last part."""
    if number < session["part_count"]:
        return session["part_size"]
    return session["size"] - session["part_size"] * (session["part_count"] - 1)


def part_offset(session: dict, number: int) -> int:
    return session["part_size"] * (number - 1)


def received(session: dict) -> list[int]:
    return sorted(int(n) for n in (session.get("parts") or {}))


def own_session(call: Call) -> dict:
    """The caller's company's session named by `upload`; another company's id is not found."""
    upload_id = call.data["upload"]
    session = call.scope.uploads.get_writable(upload_id)
    if session is None:
        raise errors.InvalidUploadId(id=upload_id)
    return session


def base_url_of(call: Call) -> str:
    return public_base_url(call.config, call.headers)


def part_url(base_url: str, upload_id: str) -> str:
    return f"{base_url}/v{API_VERSION}/uploads.put_part?upload={upload_id}&part={{part}}"


def shape(session: dict, base_url: str | None) -> dict:
    """The session as `uploads.start` and `uploads.get_status` answer it."""
    out = {
        "upload": session["_id"], "status": session["state"], "size": session["size"],
        "part_size": session["part_size"], "part_count": session["part_count"], "parts": received(session),
        "expires": session["expires"].isoformat(), "file": session.get("file"),
    }
    if base_url is not None:
        out["part_url"] = part_url(base_url, session["_id"])
    return out
