"""Presigned URLs that name the object store as clients reach it (`s3.public_endpoint`), which may
differ from the address this server uses (a loopback port, a cluster-internal name)."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from urllib.parse import urlsplit

from minio import Minio


@lru_cache(maxsize=4)
def _client(endpoint: str, access_key: str, secret_key: str, region: str) -> Minio:
    parts = urlsplit(endpoint if "://" in endpoint else "http://" + endpoint)
    # the region is given, so presigning is computed locally: no request goes to the public address
    return Minio(parts.netloc, access_key=access_key or None, secret_key=secret_key or None,
                 secure=parts.scheme == "https", region=region or "us-east-1")


def presigned_get(config, bucket: str, key: str, expires_sec: int, content_disposition: str | None = None) -> str:
    """A time-limited GET URL of `key` at the public endpoint (`s3.public_endpoint`, which must be set)."""
    s3 = config.get("s3")
    client = _client(str(s3.get("public_endpoint")), str(s3.get("access_key") or ""),
                     str(s3.get("secret_key") or ""), str(s3.get("region") or ""))
    headers = {"response-content-disposition": content_disposition} if content_disposition else None
    return client.presigned_get_object(bucket, key, expires=timedelta(seconds=expires_sec), response_headers=headers)


def presigned_part(config, bucket: str, key: str, upload_id: str, number: int, expires_sec: int) -> str:
    """A time-limited URL at the public endpoint that stores part `number` of a multipart upload when PUT."""
    s3 = config.get("s3")
    client = _client(str(s3.get("public_endpoint")), str(s3.get("access_key") or ""),
                     str(s3.get("secret_key") or ""), str(s3.get("region") or ""))
    return client.get_presigned_url("PUT", bucket, key, expires=timedelta(seconds=expires_sec),
                                    extra_query_params={"uploadId": upload_id, "partNumber": str(number)})
