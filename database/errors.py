"""Errors raised by database/ for bad queries or unreachable stores.

database/ cannot import services/, so each query error names the API error it stands for
(`api_error`, a class name in services/errors.py); services.failures translates every exception a call
may raise, these and the drivers' alike, in one place.
"""

from __future__ import annotations

from bson.errors import InvalidDocument
from minio.error import MinioException
from pymongo.errors import ConnectionFailure, DocumentTooLarge, ExecutionTimeout, PyMongoError
from urllib3.exceptions import HTTPError as Urllib3HTTPError


class QueryError(Exception):
    api_error = "ValidationError"

    def __init__(self, extra: str | None = None, **kwargs):
        self.extra = extra
        self.kwargs = kwargs
        super().__init__(extra or "")


class UnknownFieldError(QueryError):
    api_error = "InvalidFields"


class FieldValueError(QueryError):
    api_error = "FieldsValueError"


class PatternError(QueryError):
    api_error = "InvalidRegex"


class PatternTimeout(QueryError):
    """A user pattern the server matches itself ran out of its time (database/user_regex.py)."""

    api_error = "ValidationError"


class MissingFieldsError(QueryError):
    api_error = "MissingRequiredFields"


class ReplyTooLarge(QueryError):
    api_error = "ReplyTooLarge"


# What a lost database or object store looks like from the drivers. ConnectionFailure covers server
# selection, network errors and network timeouts; ExecutionTimeout is a server that stopped a query at
# the call's deadline (maxTimeMS).
DATABASE_UNAVAILABLE = (ConnectionFailure, ExecutionTimeout)
STORAGE_UNAVAILABLE = (MinioException, Urllib3HTTPError, ConnectionError)
# A document the database refuses to store (over 16 MiB, or not encodable as BSON).
DOCUMENT_REFUSED = (DocumentTooLarge, InvalidDocument)


def database_unavailable(exc: BaseException) -> bool:
    """The database did not answer in time or could not be reached (any driver error marked as a
    timeout counts: with a deadline set, pymongo reports running out of it that way)."""
    return isinstance(exc, DATABASE_UNAVAILABLE) or (isinstance(exc, PyMongoError) and exc.timeout)
