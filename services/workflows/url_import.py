"""models.import_url (modelreg extension): the server fetches a model's weights from an external URL
once, into its own object store, so every client then downloads them from the registry.

The fetch and its guard are database/url_fetch.py's; this module reads the policy from the
configuration (`import.*`), decides which s3:// buckets may be read, and stores the bytes the way
models.upload does (services/workflows/model_store.py), recording where they came from.
"""

from __future__ import annotations

import posixpath
from datetime import datetime, timezone
from urllib.parse import unquote, urlsplit

from database import url_fetch
from database.errors import QueryError
from database.scope import Scope
from services import errors
from services.call import Stores
from services.workflows import model_store
from services.workflows.stored_files import DEFAULT_CONTENT_TYPE, MEDIA_TYPE, blob_store


def _conf(config, key: str, default):
    if config is None:
        return default
    value = config.get(f"import.{key}", None)
    return default if value is None else value


def policy_from(config) -> url_fetch.FetchPolicy:
    base = url_fetch.FetchPolicy()
    return url_fetch.FetchPolicy(
        allowed_hosts=tuple(str(h) for h in _conf(config, "allowed_hosts", [])),
        allow_private_addresses=bool(_conf(config, "allow_private_addresses", False)),
        max_bytes=int(_conf(config, "max_bytes", base.max_bytes)),
        connect_timeout_sec=float(_conf(config, "connect_timeout_sec", base.connect_timeout_sec)),
        read_timeout_sec=float(_conf(config, "read_timeout_sec", base.read_timeout_sec)),
        total_timeout_sec=float(_conf(config, "total_timeout_sec", base.total_timeout_sec)),
        max_redirects=int(_conf(config, "max_redirects", base.max_redirects)),
        ca_file=str(_conf(config, "ca_file", "")),
    )


def _open(stores: Stores, company: str, url: str, policy: url_fetch.FetchPolicy) -> url_fetch.Fetched:
    parts = urlsplit(url)
    if parts.scheme != "s3":
        return url_fetch.open_http(url, policy)
    blobs = blob_store(stores)
    bucket, key = parts.netloc, unquote(parts.path.lstrip("/"))
    if not bucket or not key:
        raise errors.ImportRefused("an s3 URL names a bucket and a key", url=url)
    if bucket == blobs.bucket:
        # our own bucket holds every company's files: only the caller's company's objects
        if not key.startswith(f"{company}/") or ".." in key.split("/"):
            raise errors.ImportRefused("only your company's objects of this server's bucket", bucket=bucket)
    elif bucket not in {str(b) for b in _conf(stores.config, "allowed_buckets", [])}:
        raise errors.ImportRefused("the bucket is not on the import allow-list (import.allowed_buckets)",
                                   bucket=bucket)
    return url_fetch.open_bucket_object(blobs, bucket, key, policy)


def import_url(scope: Scope, stores: Stores, user: str, model_id: str, url: str, *, base_url: str,
               filename: str | None = None, content_type: str | None = None, sha256: str | None = None) -> dict:
    """Fetches `url` and makes it the model's stored file; returns the upload reply plus `source_url`."""
    blob_store(stores)
    policy = policy_from(stores.config)
    try:
        fetched = _open(stores, scope.company, url, policy)
    except QueryError as exc:
        raise errors.from_database_error(exc) from None
    try:
        name = model_store.clean_filename(filename or posixpath.basename(unquote(urlsplit(fetched.url).path)))
        remote = fetched.content_type.split(";")[0].strip()
        # the caller's type is checked where it is stored (400); a remote one that is no media type is dropped
        kind = content_type or (remote if MEDIA_TYPE.match(remote) else DEFAULT_CONTENT_TYPE)
        extra = {"source_url": url, "imported": datetime.now(timezone.utc)}
        if fetched.url != url:
            extra["fetched_url"] = fetched.url
        try:
            result = model_store.store_model_file(
                scope, stores, user, model_id, fetched, fetched.length, filename=name, content_type=kind,
                sha256=sha256, base_url=base_url, size_hint=policy.max_bytes, extra=extra)
        except QueryError as exc:
            raise errors.from_database_error(exc) from None
    finally:
        fetched.close()
    return {**result, "source_url": url}
