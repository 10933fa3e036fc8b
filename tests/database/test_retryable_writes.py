"""Retryable writes (database/connection.py): off where the embedded server is the database, which keeps
every retryable write's reply and scans them all on each write; as configured otherwise."""

from __future__ import annotations

from database import connection


def test_a_handle_on_the_embedded_server_does_not_retry_writes(mongo_uri, db_name):
    db = connection.connect(mongo_uri, db_name)
    try:
        assert connection.is_embedded(db)
        assert db.client.options.retry_writes is False  # so the driver sends no transaction number
        db["things"].insert_one({"_id": 1})
        assert db["things"].find_one({"_id": 1}) == {"_id": 1}
    finally:
        db.client.drop_database(db_name)
        db.client.close()


def test_a_uri_that_names_retryable_writes_is_followed(mongo_uri, db_name):
    separator = "&" if "?" in mongo_uri else "?"
    db = connection.connect(f"{mongo_uri}{separator}retryWrites=true", db_name)
    try:
        assert db.client.options.retry_writes is True
    finally:
        db.client.close()


def test_a_server_that_does_not_answer_leaves_the_client_as_configured():
    db = connection.connect("mongodb://127.0.0.1:9/", "nothing", timeout_ms=200)
    try:
        assert db.client.options.retry_writes is True
    finally:
        db.client.close()
