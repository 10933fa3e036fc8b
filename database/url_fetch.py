"""Outbound fetches of model weights for models.import_url: an http(s) client that cannot be turned
against the server's own network, and reads of objects from allowed S3 buckets.

The guard (no server-side request forgery):
- only http and https URLs whose host is on the allow-list (`*.example.org` allows its subdomains);
- the host is resolved here and EVERY address is checked: loopback, private, link-local and other
  non-global addresses are refused unless the policy allows private addresses; the connection then
  goes to the checked address (the Host header and TLS name stay the URL's), so a second DNS answer
  (rebinding) cannot lead elsewhere;
- redirects are not followed by the client: each Location is checked like the first URL, at most
  `max_redirects` times;
- a declared length above `max_bytes` is refused before reading; the body is counted as it streams and
  cut off past `max_bytes` or past the total time limit.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3
from minio.error import S3Error
from urllib3.util import Timeout

from database.errors import QueryError

REDIRECTS = (301, 302, 303, 307, 308)
USER_AGENT = "modelreg-import/1"


class FetchRefused(QueryError):
    """The URL (or a redirect, or the size) is not allowed by the import policy."""

    api_error = "ImportRefused"


class FetchFailed(QueryError):
    """The remote end could not be reached or did not deliver the file."""

    api_error = "ImportFailed"


@dataclass(frozen=True)
class FetchPolicy:
    allowed_hosts: tuple[str, ...] = ()
    allow_private_addresses: bool = False
    max_bytes: int = 10 * 1024 ** 3
    connect_timeout_sec: float = 10.0
    read_timeout_sec: float = 60.0
    total_timeout_sec: float = 3600.0
    max_redirects: int = 5
    ca_file: str = ""  # certificates trusted for https (empty: the certifi bundle)


@dataclass
class Fetched:
    """An open download: `read(n)` as a file, `close()` when done."""

    reader: Any
    length: int | None
    content_type: str
    url: str  # the URL finally fetched (after redirects)

    def read(self, size: int = -1) -> bytes:
        return self.reader.read(size)

    def close(self) -> None:
        self.reader.close()


class _LimitedReader:
    """Reads a response, refusing more than `max_bytes` and stopping at the deadline."""

    def __init__(self, response, max_bytes: int, deadline: float, on_close=None):
        self._response = response
        self._max_bytes = max_bytes
        self._deadline = deadline
        self._on_close = on_close
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        if time.monotonic() > self._deadline:
            raise FetchFailed("the download took longer than the import time limit")
        want = min(size if size and size > 0 else 1024 * 1024, self._max_bytes + 1 - self.size)
        try:
            piece = self._response.read(max(want, 1))
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise FetchFailed("the download was interrupted", reason=str(exc) or type(exc).__name__) from None
        self.size += len(piece)
        if self.size > self._max_bytes:
            raise FetchRefused("the file is larger than the import size limit", max_bytes=self._max_bytes)
        return piece

    def close(self) -> None:
        try:
            self._response.release_conn()
        finally:
            if self._on_close:
                self._on_close()


# --- the checks ----------------------------------------------------------------------------------


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    for entry in allowed:
        entry = str(entry).lower().rstrip(".")
        if entry.startswith("*.") and host.endswith(entry[1:]) and host != entry[2:]:
            return True
        if host == entry:
            return True
    return False


def _address_allowed(address: str, allow_private: bool) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if ip.is_multicast or ip.is_unspecified:
        return False
    return ip.is_global or allow_private


def checked_addresses(host: str, port: int, allow_private: bool) -> list[str]:
    """Resolves `host` and returns the addresses to connect to; refuses when any address is not allowed."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise FetchFailed("the host name could not be resolved", host=host, reason=str(exc)) from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    refused = [a for a in addresses if not _address_allowed(a, allow_private)]
    if refused or not addresses:
        raise FetchRefused("the host resolves to an address that is not allowed (loopback, private or "
                           "link-local)", host=host, addresses=refused)
    return addresses


def check_url(url: str, policy: FetchPolicy) -> tuple[str, str, int, list[str]]:
    """(scheme, host, port, addresses to connect to) of an allowed http(s) URL, else FetchRefused."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchRefused("only http, https and s3 URLs can be imported", url=url)
    if parts.username or parts.password:
        raise FetchRefused("URLs with credentials are not imported", host=parts.hostname)
    host = parts.hostname or ""
    if not host or not host_allowed(host, policy.allowed_hosts):
        raise FetchRefused("the host is not on the import allow-list (import.allowed_hosts)", host=host)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise FetchRefused("invalid port", url=url) from None
    return parts.scheme, host, port, checked_addresses(host, port, policy.allow_private_addresses)


# --- http(s) -------------------------------------------------------------------------------------


def _pool(scheme: str, host: str, address: str, port: int, policy: FetchPolicy):
    timeout = Timeout(connect=policy.connect_timeout_sec, read=policy.read_timeout_sec)
    if scheme == "https":
        return urllib3.HTTPSConnectionPool(address, port, timeout=timeout, retries=False, maxsize=1,
                                           server_hostname=host, assert_hostname=host,
                                           cert_reqs="CERT_REQUIRED", ca_certs=policy.ca_file or certifi.where())
    return urllib3.HTTPConnectionPool(address, port, timeout=timeout, retries=False, maxsize=1)


def _host_header(host: str, port: int, scheme: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port == (443 if scheme == "https" else 80) else f"{shown}:{port}"


def _connect(url: str, policy: FetchPolicy):
    """GET `url` from the first of its checked addresses that answers; returns (response, pool, host)."""
    scheme, host, port, addresses = check_url(url, policy)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = {"Host": _host_header(host, port, scheme), "User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    reason = ""
    for address in addresses:  # e.g. ::1 then 127.0.0.1 for localhost: every one was checked
        pool = _pool(scheme, host, address, port, policy)
        try:
            response = pool.urlopen("GET", target, headers=headers, redirect=False, retries=False,
                                    preload_content=False, assert_same_host=False)
            return response, pool, host
        except urllib3.exceptions.NewConnectionError as exc:
            pool.close()
            reason = str(exc)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            pool.close()
            raise FetchFailed("the URL could not be fetched", host=host, reason=str(exc) or type(exc).__name__
                              ) from None
    raise FetchFailed("the URL could not be fetched", host=host, reason=reason)


def _finish(response, pool) -> None:
    response.release_conn()
    pool.close()


def open_http(url: str, policy: FetchPolicy) -> Fetched:
    """Opens an allowed URL, following at most `max_redirects` checked redirects."""
    deadline = time.monotonic() + policy.total_timeout_sec
    for _ in range(policy.max_redirects + 1):
        response, pool, host = _connect(url, policy)
        if response.status in REDIRECTS:
            location = response.headers.get("Location")
            _finish(response, pool)
            if not location:
                raise FetchFailed("a redirect without a Location", status=response.status)
            url = urljoin(url, location)
            continue
        if response.status != 200:
            _finish(response, pool)
            raise FetchFailed("the remote server did not return the file", status=response.status, host=host)
        length = response.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        if length is not None and length > policy.max_bytes:
            _finish(response, pool)
            raise FetchRefused("the file is larger than the import size limit", size=length,
                               max_bytes=policy.max_bytes)
        reader = _LimitedReader(response, policy.max_bytes, deadline, pool.close)
        return Fetched(reader, length, response.headers.get("Content-Type") or "", url)
    raise FetchRefused("too many redirects", max_redirects=policy.max_redirects)


# --- s3 ------------------------------------------------------------------------------------------


def open_bucket_object(blobs, bucket: str, key: str, policy: FetchPolicy) -> Fetched:
    """Opens `bucket/key` with the blob store's client (the caller checked the bucket is allowed)."""
    deadline = time.monotonic() + policy.total_timeout_sec
    try:
        info = blobs.client.stat_object(bucket, key)
        if info.size is not None and info.size > policy.max_bytes:
            raise FetchRefused("the file is larger than the import size limit", size=info.size,
                               max_bytes=policy.max_bytes)
        response = blobs.client.get_object(bucket, key)
    except S3Error as exc:
        raise FetchFailed("the object could not be read", bucket=bucket, key=key, reason=exc.code) from None
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise FetchFailed("the object store could not be reached", reason=str(exc)) from None
    reader = _LimitedReader(response, policy.max_bytes, deadline, response.close)
    return Fetched(reader, info.size, info.content_type or "", f"s3://{bucket}/{key}")
