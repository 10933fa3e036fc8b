"""The one path from whatever a call raised to the API error its client sees.

Both the RPC dispatcher and the /files route hand every exception to `to_api_error`, so a driver's
error means the same thing wherever it surfaces: our own API errors pass through, query errors from
database/ become their named API error, a database that does not answer in time is 503/1 and an
object store that does not is 503/2 (both with Retry-After, no internals in the message), a client
that stopped sending is 408, and anything else is logged with its trx and becomes 500/0.
"""

from __future__ import annotations

import logging

from database import connection
from database.errors import STORAGE_UNAVAILABLE, QueryError, database_unavailable, document_refused
from services import errors

log = logging.getLogger("modelreg.failures")


class ClientStalled(Exception):
    """The client sent nothing for the idle timeout in the middle of its request body."""


def to_api_error(exc: BaseException, where: str) -> errors.ApiError:
    """`where` names the call in the log (trx and endpoint, or method and path)."""
    if isinstance(exc, errors.ApiError):
        return exc
    if isinstance(exc, QueryError):
        return errors.from_database_error(exc)
    if database_unavailable(exc):
        log.error("%s: database unavailable: %s: %s", where, type(exc).__name__, exc)
        return errors.DatabaseUnavailable()
    if isinstance(exc, STORAGE_UNAVAILABLE):
        log.error("%s: object storage unavailable: %s: %s", where, type(exc).__name__, exc)
        return errors.StorageUnavailable()
    if isinstance(exc, ClientStalled):
        log.warning("%s: the client stopped sending; connection dropped", where)
        return errors.RequestTimeout()
    if document_refused(exc):
        log.warning("%s: document refused by the database: %s", where, exc)
        return errors.RequestTooLarge("the stored document would exceed the database's limits")
    log.error("%s: unhandled error", where, exc_info=exc)
    return errors.InternalError()


def deadline(seconds: float | None):
    """A context manager: the database work inside must finish within `seconds` (None: no bound)."""
    return connection.deadline(seconds)
