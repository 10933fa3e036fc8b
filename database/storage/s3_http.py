"""HTTP connections to the object store whose request bodies are sent under the read timeout.

urllib3 sends a request body under the *connect* timeout (a few seconds, so that an unreachable store
fails fast) and applies the read timeout only to the answer. A store that pauses for longer than the
connect timeout while a part is being sent (its receive window fills) would fail the upload although
it answers well within the read timeout. These connections connect under the connect timeout and send
under the read timeout: a pause shorter than s3.read_timeout_sec is survived, as the setting says.
"""

from __future__ import annotations

from urllib3 import HTTPConnectionPool, HTTPSConnectionPool, PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection

from database.timing import timed_store_request


class _SendUnderReadTimeout:
    send_timeout: float | None = None

    def request(self, *args, **kwargs):
        if self.sock is None:
            self.connect()  # under the connect timeout
        if self.send_timeout:
            self.timeout = self.send_timeout  # urllib3's request() puts self.timeout on the socket
        return super().request(*args, **kwargs)


def pool_manager(read_timeout: float, **kwargs) -> PoolManager:
    """A PoolManager (kwargs as urllib3's) whose connections send bodies under `read_timeout`."""
    http_conn = type("HTTPConnection", (_SendUnderReadTimeout, HTTPConnection), {"send_timeout": read_timeout})
    https_conn = type("HTTPSConnection", (_SendUnderReadTimeout, HTTPSConnection), {"send_timeout": read_timeout})
    manager = PoolManager(**kwargs)
    manager.urlopen = timed_store_request(manager.urlopen)  # every S3 request counts to its call's store time
    manager.pool_classes_by_scheme = {
        "http": type("HTTPConnectionPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
        "https": type("HTTPSConnectionPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
    }
    return manager
