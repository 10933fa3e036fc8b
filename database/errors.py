"""Errors raised by database/ for bad queries or unreachable stores.

database/ cannot import services/, so the API error each query error stands for is declared there:
services/failures.py's `API_ERRORS` table, which must list every QueryError subclass. It translates
every exception a call may raise, these and the drivers' alike, in one place.
"""

from __future__ import annotations

from bson.errors import InvalidDocument
from minio.error import MinioException
from pymongo.errors import (
    BulkWriteError,
    ConnectionFailure,
    DocumentTooLarge,
    ExecutionTimeout,
    OperationFailure,
    PyMongoError,
)
from urllib3.exceptions import HTTPError as Urllib3HTTPError

from database.storage.s3_requests import S3RequestError


class QueryError(Exception):
    """A request the database layer refuses; `extra` and `kwargs` become the API error's message."""

    def __init__(self, extra: str | None = None, **kwargs):
        self.extra = extra
        self.kwargs = kwargs
        super().__init__(extra or "")


class UnknownFieldError(QueryError):
    pass


class FieldValueError(QueryError):
    pass


class PatternError(QueryError):
    pass


class PatternTimeout(QueryError):
    """A user pattern the server matches itself ran out of its time (database/query/user_regex.py)."""


class MissingFieldsError(QueryError):
    pass


class ReplyTooLarge(QueryError):
    pass


# What a lost database or object store looks like from the drivers. ConnectionFailure covers server
# selection, network errors and network timeouts; ExecutionTimeout is a server that stopped a query at
# the call's deadline (maxTimeMS). S3RequestError is a refusal of the requests the store sends itself.
DATABASE_UNAVAILABLE = (ConnectionFailure, ExecutionTimeout)
STORAGE_UNAVAILABLE = (MinioException, S3RequestError, Urllib3HTTPError, ConnectionError)
# A document the database refuses to store (over 16 MiB, or not encodable as BSON): the driver's own
# checks, and the server's codes for a write whose result would pass 16 MiB (BSONObjectTooLarge, and
# an update's or upsert's result on older servers).
DOCUMENT_REFUSED = (DocumentTooLarge, InvalidDocument)
TOO_LARGE_CODES = frozenset({10334, 17419, 17420})
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024


def document_refused(exc: BaseException) -> bool:
    """The write failed because of the document's size or shape, not the database: every write path
    (insert, update, findAndModify, bulk) is recognised here, so none needs a check of its own."""
    if isinstance(exc, DOCUMENT_REFUSED):
        return True
    if isinstance(exc, BulkWriteError):
        return any(e.get("code") in TOO_LARGE_CODES for e in (exc.details or {}).get("writeErrors") or ())
    return isinstance(exc, OperationFailure) and exc.code in TOO_LARGE_CODES


def database_unavailable(exc: BaseException) -> bool:
    """The database did not answer in time or could not be reached (any driver error marked as a
    timeout counts: with a deadline set, pymongo reports running out of it that way)."""
    return isinstance(exc, DATABASE_UNAVAILABLE) or (isinstance(exc, PyMongoError) and exc.timeout)
