"""`python -m server backup DIR` / `restore DIR` (what ./run.sh backup|restore runs): a deployment with
model files and records comes back equal, a non-empty target and a damaged backup are refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from bson.codec_options import CodecOptions

from database.backup import dump
from database.connection import connect
from server.config import ROOT
from tests.files.test_files_rpc import upload
from tests.files_support import app_with_s3, empty_bucket
from tests.fixtures.app import drop
from tests.helpers import ApiClient
from tests.records.test_records_files import add_with_file

pytestmark = pytest.mark.fresh_database
WEIGHTS = os.urandom(70_000)


def run_cli(command: str, folder, s3, database: str, bucket: str, mongo_uri: str):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    env.update(MODELREG_MONGO_URI=mongo_uri, MODELREG_MONGO_DATABASE=database, MODELREG_S3_ENDPOINT=s3.endpoint,
               MODELREG_S3_ACCESS_KEY=s3.access_key, MODELREG_S3_SECRET_KEY=s3.secret_key, MODELREG_S3_BUCKET=bucket)
    return subprocess.run([sys.executable, "-m", "server", command, str(folder)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)


def contents(db) -> dict:
    plain = db.with_options(codec_options=CodecOptions(tz_aware=True))
    # copies that reads rebuild are not backed up (database/backup/dump.py)
    names = sorted(n for n in plain.list_collection_names()
                   if not n.startswith("system.") and n not in dump.REBUILT_BY_READS)
    return {name: sorted(plain[name].find(), key=lambda d: str(d["_id"])) for name in names}


def objects(s3, bucket) -> dict:
    client = s3.client()
    found = {}
    for item in client.list_objects(bucket, recursive=True):
        response = client.get_object(bucket, item.object_name)
        found[item.object_name] = response.read()
        response.close()
        response.release_conn()
    return found


@pytest.fixture
def target(mongo_uri, s3):
    name, bucket = f"t_restore_{uuid.uuid4().hex[:10]}", "r-" + uuid.uuid4().hex[:16]
    yield name, bucket
    drop(connect(mongo_uri, name))
    empty_bucket(s3.client(), bucket)


def test_backup_then_restore_gives_equal_collections_and_objects(
        files_app, alice, app_config, registry, db, db_name, s3, bucket, mongo_uri, tmp_path, target):
    model = alice.ok("models.create", {"name": "kept", "uri": "file:///m.pt"}, version="2.13")["id"]
    assert upload(alice, model, WEIGHTS, "filename=w.bin").status_code == 200
    record = add_with_file(alice, model, b"\xff\xd8 a photo", site="north")
    folder = tmp_path / "backup"

    made = run_cli("backup", folder, s3, db_name, bucket, mongo_uri)
    assert made.returncode == 0, made.stdout + made.stderr
    manifest = json.loads((folder / "manifest.json").read_text())
    assert len(manifest["objects"]) == 2 and manifest["collections"]["models"]["documents"] >= 1

    name, restored_bucket = target
    done = run_cli("restore", folder, s3, name, restored_bucket, mongo_uri)
    assert done.returncode == 0, done.stdout + done.stderr
    assert contents(connect(mongo_uri, name)) == contents(db)
    assert objects(s3, restored_bucket) == objects(s3, bucket)

    # the restored deployment serves the same files to the same key pair
    app_config.put("mongo.database", name)
    restored = app_with_s3(app_config, registry, s3, bucket=restored_bucket)
    client = ApiClient(restored, alice.authorization)
    assert client.raw("/v2.99/models.download", body={"model": model}).content == WEIGHTS
    got = client.raw("/v2.99/records.download", body={"record": record["id"]})
    assert got.content == b"\xff\xd8 a photo"

    again = run_cli("restore", folder, s3, name, restored_bucket, mongo_uri)
    assert again.returncode == 1 and "not empty" in again.stdout


def test_a_damaged_backup_writes_nothing(files_app, alice, db_name, s3, bucket, mongo_uri, tmp_path, target):
    alice.ok("models.create", {"name": "kept", "uri": "file:///m.pt"}, version="2.13")
    folder = tmp_path / "backup"
    assert run_cli("backup", folder, s3, db_name, bucket, mongo_uri).returncode == 0
    with (folder / "collections" / "models.bson").open("r+b") as damaged:
        damaged.seek(20)
        damaged.write(b"X")
    name, restored_bucket = target
    refused = run_cli("restore", folder, s3, name, restored_bucket, mongo_uri)
    assert refused.returncode == 1 and "checksum" in refused.stdout
    assert connect(mongo_uri, name).list_collection_names() == []
    assert run_cli("backup", folder, s3, db_name, bucket, mongo_uri).returncode == 1  # never into a used folder


def test_with_the_embedded_servers_the_command_starts_them_for_its_duration(tmp_path):
    """No mongo.uri / s3.endpoint: as ./run.sh would, on a data folder no ./run.sh is serving."""
    from server.process.embedded import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    env.update(MODELREG_DATA_DIR=str(tmp_path / "data"), MODELREG_MONGO_EMBEDDED_PORT=str(free_port()),
               MODELREG_S3_EMBEDDED_PORT=str(free_port()))
    made = subprocess.run([sys.executable, "-m", "server", "backup", str(tmp_path / "b")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stdout + made.stderr
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["objects"] == []
    assert (tmp_path / "data" / "mongo").is_dir() and (tmp_path / "data" / "s3").is_dir()
    env["MODELREG_DATA_DIR"] = str(tmp_path / "other")
    done = subprocess.run([sys.executable, "-m", "server", "restore", str(tmp_path / "b")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
