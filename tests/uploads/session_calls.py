"""The calls the upload tests make: a session started, parts sent, a model to complete into, its file read."""

from __future__ import annotations

import hashlib

from tests.helpers import ApiClient

V = "2.99"
MIB = 1024 * 1024
PART = 5 * MIB  # S3's smallest part


def parts(data: bytes, part_size: int = PART) -> dict[int, bytes]:
    return {i + 1: data[o:o + part_size] for i, o in enumerate(range(0, max(len(data), 1), part_size))}


def put(client: ApiClient, upload: str, number: int, body: bytes, sha256: str | None = None):
    query = f"upload={upload}&part={number}" + (f"&sha256={sha256}" if sha256 else "")
    return client.raw(f"/v{V}/uploads.put_part", body=body, method="PUT", query_string=query)


def start(client: ApiClient, data: bytes, announce: bool = True) -> dict:
    request = {"size": len(data), "part_size": PART}
    if announce:
        request["sha256"] = hashlib.sha256(data).hexdigest()
    return client.ok("uploads.start", request, version=V)


def model(client: ApiClient, name: str = "weights") -> str:
    return client.ok("models.create", {"name": name, "uri": "file:///tmp/x"}, version="2.13")["id"]


def download(client: ApiClient, model_id: str) -> bytes:
    reply = client.raw("/v2.13/models.download", body={"model": model_id})
    assert reply.status_code == 200, reply.text
    return reply.content
