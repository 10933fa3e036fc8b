"""Every request the server makes to another machine goes through `request()` here: one client that
cannot be turned against the server's own network and cannot be held open past its deadlines.

The guard (no server-side request forgery):
- only http and https URLs without credentials; with `allowed_hosts` set, only those host names
  (`*.example.org` allows its subdomains);
- the host is resolved here and EVERY address is checked: loopback, private, link-local and other
  non-global addresses are refused unless `outbound.allow_private_networks` is true; the connection
  then goes to a checked address (the Host header and the TLS name stay the URL's), so a second DNS
  answer (rebinding) cannot lead elsewhere;
- redirects are not followed blindly: each Location is checked and resolved like the first URL, at
  most `max_redirects` times.

The deadlines: `connect_timeout_sec` for each connection (and TLS handshake), `read_timeout_sec` for
any wait for the next bytes, and `total_timeout_sec` for the whole exchange, redirects, headers and
body included. The total holds however slowly bytes trickle in: every receive is given the time left
as its socket timeout (see `_Deadline`), where a plain client would renew its read timeout with each
byte. A declared length above `max_bytes` is refused before reading and the body is cut off past it.
"""

from __future__ import annotations

import http.client
import io
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass, replace
from urllib.parse import urljoin, urlsplit

import certifi

# The query errors' form (message, fields, an API error's name): one a caller lets through is
# reported as a 400 by services/failures.py, never a 500.
from database.errors import QueryError
from services.shared import tls_contexts
from services.shared.kept_connections import KeptConnections

REDIRECTS = (301, 302, 303, 307, 308)
USER_AGENT = "modelreg/1"
# not sent on to another host after a redirect
CREDENTIAL_HEADERS = ("authorization", "cookie", "proxy-authorization")
CHUNK = 1024 * 1024
QUICKACK = getattr(socket, "TCP_QUICKACK", None)  # Linux only


class OutboundRefused(QueryError):
    """The URL, a redirect, an address or the size is not allowed by the policy."""


class OutboundFailed(QueryError):
    """The remote end could not be reached, or did not answer or deliver in time."""


@dataclass(frozen=True)
class OutboundPolicy:
    allow_private_networks: bool = False
    connect_timeout_sec: float = 10.0
    read_timeout_sec: float = 60.0
    total_timeout_sec: float = 3600.0
    max_redirects: int = 5
    ca_file: str = ""  # certificates trusted for https (empty: the certifi bundle)
    allowed_hosts: tuple[str, ...] | None = None  # None: any host (the address rule still applies)
    hosts_setting: str = ""  # the setting an error names when a host is not on allowed_hosts
    max_bytes: int | None = None  # largest response body read

    @classmethod
    def from_config(cls, config, **overrides) -> OutboundPolicy:
        """The `outbound.*` settings; a caller adds its own limits (allowed_hosts, max_bytes) as overrides."""
        tree = config.get("outbound", None) if config is not None else None
        base = cls()

        def value(key, cast):
            found = tree.get(key, None) if tree is not None else None
            return getattr(base, key) if found is None else cast(found)

        policy = cls(allow_private_networks=value("allow_private_networks", bool),
                     connect_timeout_sec=value("connect_timeout_sec", float),
                     read_timeout_sec=value("read_timeout_sec", float),
                     total_timeout_sec=value("total_timeout_sec", float),
                     max_redirects=value("max_redirects", int),
                     ca_file=value("ca_file", str))
        return replace(policy, **overrides)


# --- the address guard ---------------------------------------------------------------------------


def host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    for entry in allowed:
        entry = str(entry).lower().rstrip(".")
        if entry.startswith("*.") and host.endswith(entry[1:]) and host != entry[2:]:
            return True
        if host == entry:
            return True
    return False


# IPv6 prefixes that carry an IPv4 address a gateway may forward to: judged by that address
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# local-use translation prefix and the deprecated IPv4-compatible form: never the public internet
NOT_GLOBAL_V6 = (ipaddress.ip_network("64:ff9b:1::/48"), ipaddress.ip_network("::/96"))


def _judged(ip):
    """The address whose class decides: the IPv4 address inside a mapped, NAT64 or 6to4 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return ip.ipv4_mapped
        if ip in NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if ip.sixtofour:
            return ip.sixtofour
    return ip


def address_allowed(address: str, allow_private: bool) -> bool:
    ip = _judged(ipaddress.ip_address(address.split("%", 1)[0]))
    if ip.is_multicast or ip.is_unspecified:
        return False
    if allow_private:
        return True
    return ip.is_global and not any(ip in net for net in NOT_GLOBAL_V6 if ip.version == 6)


def checked_addresses(host: str, port: int, allow_private: bool) -> list[tuple[int, tuple]]:
    """Resolves `host`; returns (family, socket address) pairs to connect to, or refuses when ANY of its
    addresses is not allowed (one bad answer among good ones is an attempt, not an accident)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundFailed("the host name could not be resolved", host=host, reason=str(exc)) from None
    found = list(dict.fromkeys((info[0], info[4]) for info in infos))
    refused = [sockaddr[0] for _, sockaddr in found if not address_allowed(sockaddr[0], allow_private)]
    if refused or not found:
        raise OutboundRefused("the host resolves to an address that is not allowed (loopback, private or "
                              "link-local; outbound.allow_private_networks)", host=host, addresses=refused)
    return found


def check_url(url: str, policy: OutboundPolicy) -> tuple[str, str, int, list[tuple[int, tuple]]]:
    """(scheme, host, port, addresses to connect to) of an allowed http(s) URL, else OutboundRefused."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed IPv6 bracket, a host that NFKC normalisation changes
        raise OutboundRefused("not a valid URL", url=url[:200], reason=str(exc)[:200]) from None
    if parts.scheme not in ("http", "https"):
        raise OutboundRefused("only http and https URLs are fetched", url=url)
    if parts.username or parts.password:
        raise OutboundRefused("URLs with credentials are not fetched", host=parts.hostname)
    host = parts.hostname or ""
    if not host:
        raise OutboundRefused("the URL names no host", url=url)
    if policy.allowed_hosts is not None and not host_allowed(host, policy.allowed_hosts):
        where = f" ({policy.hosts_setting})" if policy.hosts_setting else ""
        raise OutboundRefused(f"the host is not on the allow-list{where}", host=host)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise OutboundRefused("invalid port", url=url) from None
    return parts.scheme, host, port, checked_addresses(host, port, policy.allow_private_networks)


# --- deadlines -----------------------------------------------------------------------------------


class _Deadline:
    """The total time limit of one exchange, applied to every socket operation in it."""

    def __init__(self, policy: OutboundPolicy):
        self.policy = policy
        self.at = time.monotonic() + policy.total_timeout_sec

    def left(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise self.exceeded()
        return left

    def arm(self, sock, limit: float) -> None:
        """Gives the next operation on `sock` at most `limit` seconds, and never past the total."""
        sock.settimeout(min(limit, self.left()))

    def exceeded(self) -> OutboundFailed:
        return OutboundFailed("the remote end took longer than the total time limit",
                              total_timeout_sec=self.policy.total_timeout_sec)

    def expired(self) -> bool:
        return self.at - time.monotonic() <= 0.05  # a socket timeout ends a hair before the deadline

    def timed_out(self, what: str, limit_name: str) -> OutboundFailed:
        """The error of an operation that ran into its socket timeout: the total or its own limit."""
        if self.expired():
            return self.exceeded()
        return OutboundFailed(f"the remote end did not {what} in time", **{
            limit_name: getattr(self.policy, limit_name)})


class _DeadlineReader(io.RawIOBase):
    """The receiving side of a socket for http.client, re-armed before every receive."""

    def __init__(self, sock, deadline: _Deadline):
        self._sock = sock
        self._deadline = deadline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        self._deadline.arm(self._sock, self._deadline.policy.read_timeout_sec)
        if QUICKACK is not None:
            # acknowledge at once what arrives: a peer that writes an answer's head and body in two writes
            # without TCP_NODELAY (http.server, development servers) would otherwise hold the body ~40 ms
            # for our delayed acknowledgement on a kept connection. Linux clears the flag by itself.
            self._sock.setsockopt(socket.IPPROTO_TCP, QUICKACK, 1)
        try:
            return self._sock.recv_into(buffer)
        except TimeoutError:
            raise self._deadline.timed_out("send data", "read_timeout_sec") from None


class _GuardedSocket:
    """What http.client sees as its socket: sends and receives under the deadlines. The real socket is
    closed by `Response.close()` (http.client would close it while its response still reads)."""

    def __init__(self, sock, deadline: _Deadline):
        self.sock = sock
        self._deadline = deadline

    def sendall(self, data) -> None:
        self._deadline.arm(self.sock, self._deadline.policy.read_timeout_sec)  # bounds the whole sendall
        try:
            self.sock.sendall(data)
        except TimeoutError:
            raise self._deadline.timed_out("take the request", "read_timeout_sec") from None

    def makefile(self, mode="rb", *args, **kwargs):
        return io.BufferedReader(_DeadlineReader(self.sock, self._deadline))

    def close(self) -> None:
        pass


def _connect(scheme: str, host: str, addresses, policy: OutboundPolicy, deadline: _Deadline):
    """A connected (and for https, verified) socket to the first checked address that answers."""
    reason = ""
    for family, sockaddr in addresses:  # e.g. ::1 then 127.0.0.1 for localhost: every one was checked
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            deadline.arm(sock, policy.connect_timeout_sec)
            sock.connect(sockaddr)
            # http.client sends a request's head and body in two writes: without this, on a kept connection
            # the body waits for the peer's delayed acknowledgement of the head (~40 ms), as http.client's
            # own connect() also avoids
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == "https":
                context = tls_contexts.verifying(policy.ca_file or certifi.where())
                sock = context.wrap_socket(sock, server_hostname=host, do_handshake_on_connect=False)
                deadline.arm(sock, policy.connect_timeout_sec)
                sock.do_handshake()
            return sock
        except TimeoutError:
            sock.close()
            if deadline.expired():
                raise deadline.exceeded() from None
            reason = f"no connection within {policy.connect_timeout_sec:g} s (outbound.connect_timeout_sec)"
        except ssl.SSLError as exc:
            sock.close()
            raise OutboundFailed("the URL could not be fetched", host=host, reason=str(exc)) from None
        except OSError as exc:
            sock.close()
            reason = str(exc) or type(exc).__name__
        except BaseException:
            sock.close()
            raise
    raise OutboundFailed("the URL could not be fetched", host=host, reason=reason)


def _host_header(host: str, port: int, scheme: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port == (443 if scheme == "https" else 80) else f"{shown}:{port}"


# --- the exchange --------------------------------------------------------------------------------


class Response:
    """An open reply: `status`, `headers`, `length` (declared, or None), `url` (after redirects);
    `read(n)` as a file (errors become OutboundFailed / OutboundRefused), `close()` when done."""

    def __init__(self, reply: http.client.HTTPResponse, sock, url: str, policy: OutboundPolicy,
                 keep=None):
        self._reply = reply
        self._sock = sock
        self._keep = keep  # where the connection goes once the answer is read to its end
        self.url = url
        self.status = reply.status
        self.headers = reply.headers
        declared = reply.getheader("Content-Length") or ""
        self.length = int(declared) if declared.isdigit() else None
        self._max_bytes = policy.max_bytes
        self.size = 0

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type") or ""

    def read(self, size: int = -1) -> bytes:
        want = size if size and size > 0 else CHUNK
        if self._max_bytes is not None:
            want = max(1, min(want, self._max_bytes + 1 - self.size))
        try:
            piece = self._reply.read(want)
        except (http.client.HTTPException, OSError) as exc:
            raise OutboundFailed("the transfer was interrupted", reason=str(exc) or type(exc).__name__) from None
        if not piece and self.length is not None and self.size < self.length:
            raise OutboundFailed("the transfer ended early", size=self.size, length=self.length)
        self.size += len(piece)
        if self._max_bytes is not None and self.size > self._max_bytes:
            raise OutboundRefused("the response is larger than the size limit", max_bytes=self._max_bytes)
        return piece

    def close(self) -> None:
        # http.client lets go of a reply's stream once its body is read to the end
        reusable = self._keep is not None and self._reply.isclosed() and not self._reply.will_close
        try:
            self._reply.close()
        finally:
            if reusable:
                self._keep(self._sock)
            else:
                self._sock.close()


def _send(sock, host: str, port: int, scheme: str, target: str, method: str, body: bytes | None,
          headers: dict, deadline: _Deadline, keep_alive: bool) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection(host, port)
    connection.sock = _GuardedSocket(sock, deadline)  # never connects by itself
    sent = {"Host": _host_header(host, port, scheme), "User-Agent": USER_AGENT, "Accept-Encoding": "identity",
            **({} if keep_alive else {"Connection": "close"}), **headers}
    connection.request(method, target, body=body, headers=sent)
    return connection.getresponse()


def _exchange(url: str, policy: OutboundPolicy, method: str, body: bytes | None, headers: dict,
              deadline: _Deadline, kept: KeptConnections | None) -> Response:
    scheme, host, port, addresses = check_url(url, policy)
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    key = (scheme, host, port)
    sock = kept.take(key, addresses) if kept is not None else None
    reused = sock is not None
    if sock is None:
        sock = _connect(scheme, host, addresses, policy, deadline)
    try:
        try:
            reply = _send(sock, host, port, scheme, target, method, body, headers, deadline, kept is not None)
        except ConnectionError:
            if not reused:
                raise
            # the receiver closed the kept connection as the request went out: once more on a new one
            # (a receiver may then see a request twice, which at-least-once delivery allows)
            sock.close()
            sock = _connect(scheme, host, addresses, policy, deadline)
            reply = _send(sock, host, port, scheme, target, method, body, headers, deadline, True)
    except OutboundFailed:
        sock.close()
        raise
    except (http.client.HTTPException, OSError) as exc:
        sock.close()
        raise OutboundFailed("the URL could not be fetched", host=host, reason=str(exc) or type(exc).__name__
                             ) from None
    except BaseException:
        sock.close()
        raise
    keep = (lambda done: kept.give(key, done)) if kept is not None else None
    return Response(reply, sock, url, policy, keep)


def request(url: str, policy: OutboundPolicy, *, method: str = "GET", body: bytes | None = None,
            headers: dict | None = None, kept: KeptConnections | None = None) -> Response:
    """Sends one request under the guard and returns the final reply, whatever its status (the caller
    judges it and must close it). Redirects are followed, each checked like `url`: 301, 302 and 303
    continue as a GET without the body (as browsers do), 307 and 308 repeat the method and body.
    Credentials in `headers` are not sent on to another host. With `kept`, connections stay open for the
    next request to the same host (services/shared/kept_connections.py); without, each is closed."""
    deadline = _Deadline(policy)
    headers = dict(headers or {})
    for _ in range(policy.max_redirects + 1):
        response = _exchange(url, policy, method, body, headers, deadline, kept)
        location = response.headers.get("Location") if response.status in REDIRECTS else None
        if location is None:
            if response.status in REDIRECTS:
                response.close()
                raise OutboundFailed("a redirect without a Location", status=response.status)
            if response.length is not None and policy.max_bytes is not None and response.length > policy.max_bytes:
                response.close()
                raise OutboundRefused("the response is larger than the size limit", size=response.length,
                                      max_bytes=policy.max_bytes)
            return response
        response.close()
        following = urljoin(url, location)
        if response.status in (301, 302, 303) and method != "HEAD":
            method, body = "GET", None
            headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")}
        if urlsplit(following).hostname != urlsplit(url).hostname:
            headers = {k: v for k, v in headers.items() if k.lower() not in CREDENTIAL_HEADERS}
        url = following
    raise OutboundRefused("too many redirects", max_redirects=policy.max_redirects)
