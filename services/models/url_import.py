"""models.import_url (modelreg extension): the server fetches a model's weights from an external URL
once, into its own object store, so every client then downloads them from the registry.

The fetch is services/models/url_fetch.py's, over the shared guarded client
(services/shared/outbound.py) and database/storage/bucket_reads.py for s3:// URLs; this
module reads the policy from the configuration (`outbound.*`, and `import.*` for the import's own
limits), decides which s3:// buckets may be read, and stores the bytes the way models.upload does
(services/models/store.py), recording where they came from.
"""

from __future__ import annotations

import posixpath
from dataclasses import replace
from urllib.parse import unquote, urlsplit

from database import clock
from database.collections.scope import Scope
from database.errors import QueryError
from services import errors, failures
from services.call import Stores
from services.models import card as model_card
from services.models import store as model_store
from services.models import url_fetch
from services.shared.outbound import OutboundPolicy
from services.shared.stored_files import DEFAULT_CONTENT_TYPE, MEDIA_TYPE, blob_store

DEFAULT_MAX_BYTES = 10 * 1024 ** 3
IMPORT_SCHEMES = ("http", "https", "s3")


def _conf(config, key: str, default):
    if config is None:
        return default
    value = config.get(f"import.{key}", None)
    return default if value is None else value


# Names of the shared outbound client's settings (outbound.*) from before they were shared: still read
# from the import block when an older configuration sets them there.
OLDER_NAMES = {"connect_timeout_sec": float, "read_timeout_sec": float, "total_timeout_sec": float,
               "max_redirects": int, "ca_file": str}


def policy_from(config) -> OutboundPolicy:
    """The outbound client's policy (outbound.*) with the import's own limits: its host allow-list and
    its largest file. `import.allow_private_addresses`, the older name of
    `outbound.allow_private_networks`, also allows private addresses."""
    older = {key: cast(_conf(config, key, None)) for key, cast in OLDER_NAMES.items()
             if _conf(config, key, None) is not None}
    policy = OutboundPolicy.from_config(
        config, allowed_hosts=tuple(str(h) for h in _conf(config, "allowed_hosts", [])),
        hosts_setting="import.allowed_hosts", max_bytes=int(_conf(config, "max_bytes", DEFAULT_MAX_BYTES)),
        **older)
    if bool(_conf(config, "allow_private_addresses", False)):
        policy = replace(policy, allow_private_networks=True)
    return policy


def _open(stores: Stores, company: str, url: str, policy: OutboundPolicy) -> url_fetch.Fetched:
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        return url_fetch.open_http(url, policy)
    if parts.scheme != "s3":
        raise errors.ImportRefused("only http, https and s3 URLs can be imported", url=url)
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
        raise failures.from_query_error(exc) from None
    try:
        name = model_store.clean_filename(filename or posixpath.basename(unquote(urlsplit(fetched.url).path)))
        remote = fetched.content_type.split(";")[0].strip()
        # the caller's type is checked where it is stored (400); a remote one that is no media type is dropped
        kind = content_type or (remote if MEDIA_TYPE.match(remote) else DEFAULT_CONTENT_TYPE)
        # the card's source_url is written here too, so it passes the card's URL check (s3 allowed)
        source_url = model_card.check_url(url, "url", schemes=IMPORT_SCHEMES)
        extra = {"source_url": source_url, "imported": clock.now()}
        if fetched.url != url:
            extra["fetched_url"] = fetched.url
        try:
            result = model_store.store_model_file(
                scope, stores, user, model_id, fetched, fetched.length, filename=name, content_type=kind,
                sha256=sha256, base_url=base_url, size_hint=policy.max_bytes, extra=extra)
        except QueryError as exc:
            raise failures.from_query_error(exc) from None
    finally:
        fetched.close()
    return {**result, "source_url": url}
