"""The one path from whatever a call raised to the API error its client sees.

Both the RPC dispatcher and the /files route hand every exception to `to_api_error`, so a driver's
error means the same thing wherever it surfaces: our own API errors pass through, query errors from
database/ become the API error `API_ERRORS` gives their class, a database that does not answer in time is 503/1 and an
object store that does not is 503/2 (both with Retry-After, no internals in the message), a client
that stopped sending is 408, and anything else is logged with its trx and becomes 500/0.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from database import connection
from database import errors as db_errors
from database.collections import datasets_db, directory_db, models_db, projects_db, tasks_db
from database.errors import STORAGE_UNAVAILABLE, QueryError, database_unavailable, document_refused
from database.query.dates import DateError
from database.storage import blobstore, bucket_reads, multipart
from services import errors
from services.shared import outbound

log = logging.getLogger("modelreg.failures")

# The API error each query error of database/ stands for (database/ cannot import services/). Every
# QueryError subclass has its own entry, checked below when this module loads.
API_ERRORS: dict[type[QueryError], type[errors.ApiError]] = {
    QueryError: errors.ValidationError,
    db_errors.UnknownFieldError: errors.InvalidFields,
    db_errors.FieldValueError: errors.FieldsValueError,
    db_errors.PatternError: errors.InvalidRegex,
    db_errors.PatternTimeout: errors.ValidationError,
    db_errors.MissingFieldsError: errors.MissingRequiredFields,
    db_errors.ReplyTooLarge: errors.ReplyTooLarge,
    DateError: errors.ValidationError,
    blobstore.BlobIntegrityError: errors.FileIntegrityError,
    blobstore.BlobSourceError: errors.BadRequest,
    blobstore.BlobTooLarge: errors.BadRequest,
    multipart.UploadGone: errors.UploadNotOpen,
    # s3:// imports read through the object store; the outbound client's only caller is the URL import:
    # both report their errors as the import's
    bucket_reads.BucketReadRefused: errors.ImportRefused,
    bucket_reads.BucketReadFailed: errors.ImportFailed,
    outbound.OutboundRefused: errors.ImportRefused,
    outbound.OutboundFailed: errors.ImportFailed,
    projects_db.InvalidProjectName: errors.InvalidProjectName,
    projects_db.ProjectNameTooShort: errors.DataValidationError,
    projects_db.ProjectNameTooLong: errors.DataValidationError,
    projects_db.ProjectPathTooDeep: errors.ProjectPathExceedsMax,
    projects_db.PublicProjectExists: errors.PublicProjectExists,
    projects_db.DuplicateProjectName: errors.ExpectedUniqueData,
    projects_db.InvalidProjectId: errors.InvalidProjectId,
    datasets_db.DuplicateDatasetName: errors.ExpectedUniqueData,
    models_db.ModelDataError: errors.DataValidationError,
    tasks_db.TaskNotFound: errors.InvalidTaskId,
    tasks_db.TaskNotWritable: errors.NoWritePermission,
    directory_db.OutOfReach: errors.RoleNotAllowed,
}


def query_error_classes(base: type[QueryError] = QueryError) -> Iterator[type[QueryError]]:
    """`base` and every subclass of it loaded so far."""
    yield base
    for sub in base.__subclasses__():
        yield from query_error_classes(sub)


_unmapped = sorted(f"{c.__module__}.{c.__qualname__}" for c in query_error_classes() if c not in API_ERRORS)
if _unmapped:
    raise RuntimeError(f"services/failures.py API_ERRORS has no entry for {', '.join(_unmapped)}")


def from_query_error(exc: QueryError) -> errors.ApiError:
    """The API error for a query error of database/, with its message and fields."""
    api_error = next(API_ERRORS[c] for c in type(exc).__mro__ if c in API_ERRORS)
    return api_error(exc.extra, **exc.kwargs)


class ClientStalled(Exception):
    """The client sent nothing for the idle timeout in the middle of its request body."""


def to_api_error(exc: BaseException, where: str, stack: bool = True) -> errors.ApiError:
    """`where` names the call in the log (trx and endpoint, or method and path). `stack=False`: the
    caller writes the stack itself (the RPC call's log line), so it is written once."""
    if isinstance(exc, errors.ApiError):
        return exc
    if isinstance(exc, QueryError):
        return from_query_error(exc)
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
    log.error("%s: unhandled error%s", where, "" if stack else " (stack in the call log)",
              exc_info=exc if stack else None)
    return errors.InternalError()


def deadline(seconds: float | None):
    """A context manager: the database work inside must finish within `seconds` (None: no bound)."""
    return connection.deadline(seconds)
