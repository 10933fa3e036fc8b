"""Errors raised by database/ for bad queries or unreachable stores.

database/ cannot import services/, so each query error names the API error it stands for
(`api_error`, a class name in services/errors.py); services.errors.from_database_error translates.
"""

from __future__ import annotations

from minio.error import MinioException
from pymongo.errors import ConnectionFailure, ExecutionTimeout, ServerSelectionTimeoutError
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


class MissingFieldsError(QueryError):
    api_error = "MissingRequiredFields"


# What a lost database or object store looks like from the drivers: the dispatcher answers these with
# a clean 500 envelope (never 503: the ClearML SDK waits forever on it).
DATABASE_UNAVAILABLE = (ConnectionFailure, ServerSelectionTimeoutError, ExecutionTimeout)
STORAGE_UNAVAILABLE = (MinioException, Urllib3HTTPError, ConnectionError)
