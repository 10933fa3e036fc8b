"""Every query error database/ raises reaches the client as the API error it stands for.

The classes are found by importing every module under database/ and walking the subclasses of
QueryError, so a new one without an entry in services/failures.py's API_ERRORS (or without a line
here) fails, and so does one mapped to the wrong code."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import database
import services
from database.errors import QueryError
from services import failures

# class (module.qualname) -> (code, subcode) the client sees
EXPECTED = {
    "database.errors.QueryError": (400, 12),
    "database.errors.UnknownFieldError": (400, 14),
    "database.errors.FieldValueError": (400, 16),
    "database.errors.PatternError": (400, 21),
    "database.errors.PatternTimeout": (400, 12),
    "database.errors.MissingFieldsError": (400, 11),
    "database.errors.ReplyTooLarge": (400, 1201),
    "database.query.dates.DateError": (400, 12),
    "database.storage.blobstore.BlobIntegrityError": (400, 1002),
    "database.storage.blobstore.BlobSourceError": (400, 0),
    "database.storage.blobstore.BlobTooLarge": (400, 0),
    "database.storage.multipart.UploadGone": (400, 1402),
    "database.storage.bucket_reads.BucketReadRefused": (400, 1003),
    "database.storage.bucket_reads.BucketReadFailed": (400, 1004),
    "services.shared.outbound.OutboundRefused": (400, 1003),
    "services.shared.outbound.OutboundFailed": (400, 1004),
    "database.collections.projects_db.InvalidProjectName": (400, 407),
    "database.collections.projects_db.ProjectNameTooShort": (400, 800),
    "database.collections.projects_db.ProjectNameTooLong": (400, 800),
    "database.collections.projects_db.ProjectPathTooDeep": (400, 409),
    "database.collections.projects_db.PublicProjectExists": (400, 414),
    "database.collections.projects_db.DuplicateProjectName": (400, 801),
    "database.collections.projects_db.InvalidProjectId": (400, 401),
    "database.collections.datasets_db.DuplicateDatasetName": (400, 801),
    "database.collections.models_db.ModelDataError": (400, 800),
    "database.collections.tasks_db.TaskNotFound": (400, 101),
    "database.collections.tasks_db.TaskNotWritable": (403, 21),
    "database.collections.directory_db.OutOfReach": (403, 20),
}


def _database_query_errors() -> dict[str, type[QueryError]]:
    """Every QueryError subclass of our code: database/ raises them, and services/ modules that build on
    the same errors (the outbound client)."""
    for package in (database, services):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)
    return {f"{c.__module__}.{c.__qualname__}": c for c in failures.query_error_classes()
            if c.__module__.split(".")[0] in ("database", "services")}


def test_every_query_error_class_has_an_api_error_and_an_expectation():
    found = _database_query_errors()
    assert sorted(name for name, cls in found.items() if cls not in failures.API_ERRORS) == []
    assert sorted(set(found) ^ set(EXPECTED)) == []  # a class without a line here, or a line for none


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_query_error_becomes_its_api_error(name):
    exc = _instance(_database_query_errors()[name])
    api_error = failures.from_query_error(exc)
    assert (api_error.code, api_error.subcode) == EXPECTED[name]
    assert "the reason" in api_error.message and api_error.kwargs == {"field": "x"}
    assert type(failures.to_api_error(exc, "test")) is type(api_error)  # the dispatcher's path too


def _instance(cls: type[QueryError]) -> QueryError:
    """An error of `cls` with a known message and field, whatever its own constructor takes."""
    exc = cls.__new__(cls)
    QueryError.__init__(exc, "the reason", field="x")
    return exc
