"""models.import_url (modelreg 2.99 extension): the server fetches weights once into its object store.

A real HTTP server on 127.0.0.1 plays the remote site; loopback is allowed explicitly by the test
configuration where a test needs it, and refused otherwise."""

from __future__ import annotations

import hashlib
import io
import os
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.files_support import app_with_s3, visible_objects
from tests.helpers import COMPANY_A, COMPANY_B, codes, make_user

X = "2.99"
MAX_BYTES = 256 * 1024
WEIGHTS = os.urandom(200 * 1024)
BIG = os.urandom(MAX_BYTES + 1)


class Remote(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # bodies without a length end when the connection closes

    def log_message(self, *args):
        pass

    def _send(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):  # noqa: N802 - http.server's naming
        port = self.server.server_address[1]
        if self.path == "/files/resnet.pt":
            self._send(200, WEIGHTS, [("Content-Length", str(len(WEIGHTS))), ("Content-Type", "application/x-pt")])
        elif self.path == "/big":
            self._send(200, BIG, [("Content-Length", str(len(BIG)))])
        elif self.path == "/big-unsized":
            self._send(200, BIG)
        elif self.path == "/moved":
            self._send(302, headers=[("Location", f"http://localhost:{port}/files/resnet.pt")])
        elif self.path == "/moved-away":
            self._send(302, headers=[("Location", "http://denied.invalid/files/resnet.pt")])
        elif self.path == "/loop":
            self._send(302, headers=[("Location", "/loop")])
        else:
            self._send(404, b"no")


@pytest.fixture(scope="module")
def remote():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Remote)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(10)


OUTBOUND = {"allow_private_networks", "max_redirects", "total_timeout_sec", "ca_file"}  # the shared client's


def _app(app_config, registry, s3, bucket, **settings):
    defaults = {"allowed_hosts": ["127.0.0.1", "localhost"], "allow_private_networks": True,
                "max_bytes": MAX_BYTES, "max_redirects": 3, "total_timeout_sec": 60}
    for key, value in {**defaults, **settings}.items():
        app_config.put(f"{'outbound' if key in OUTBOUND else 'import'}.{key}", value)
    return app_with_s3(app_config, registry, s3, bucket=bucket)


@pytest.fixture
def import_app(app_config, registry, db, s3, bucket):
    app = _app(app_config, registry, s3, bucket)
    yield app
    app.modelreg_state.stores.db.client.close()


@pytest.fixture
def users(import_app):
    return make_user(import_app, "alice", COMPANY_A, role="admin"), make_user(import_app, "bob", COMPANY_B)


def _model(client) -> str:
    return client.ok("models.create", {"name": "imported-model", "uri": "https://elsewhere/x.pt"}, version=X)["id"]


def _refused(client, model, url, subcode=1003) -> str:
    meta = client.error("models.import_url", {"model": model, "url": url}, version=X)
    assert codes(meta) == (400, subcode), meta
    return meta["result_msg"]


def test_import_is_byte_identical_and_recorded(users, remote, s3, bucket):
    alice, _ = users
    model = _model(alice)
    url = f"http://127.0.0.1:{remote}/files/resnet.pt"
    reply = alice.ok("models.import_url", {"model": model, "url": url}, version=X)
    assert reply["size"] == len(WEIGHTS) and reply["sha256"] == hashlib.sha256(WEIGHTS).hexdigest()
    assert reply["source_url"] == url and "/files/models/" in reply["uri"]
    downloaded = alice.call("models.download", {"model": model}, version="2.13")
    assert downloaded.status_code == 200 and downloaded.content == WEIGHTS
    stored = alice.ok("models.get_by_id", {"model": model}, version=X)["model"]
    assert stored["uri"] == reply["uri"]
    assert stored["file"]["source_url"] == url and stored["file"]["filename"] == "resnet.pt"
    assert stored["file"]["content_type"] == "application/x-pt"
    assert len(visible_objects(s3, bucket)) == 1


def test_redirects_are_followed_and_rechecked(users, remote):
    alice, _ = users
    model = _model(alice)
    reply = alice.ok("models.import_url", {"model": model, "url": f"http://127.0.0.1:{remote}/moved"}, version=X)
    assert reply["sha256"] == hashlib.sha256(WEIGHTS).hexdigest()
    assert "denied.invalid" in _refused(alice, model, f"http://127.0.0.1:{remote}/moved-away")
    assert "too many redirects" in _refused(alice, model, f"http://127.0.0.1:{remote}/loop")


def test_denied_hosts_and_schemes(users, remote):
    alice, _ = users
    model = _model(alice)
    assert "allow-list" in _refused(alice, model, "http://denied.invalid/w.pt")
    assert "allow-list" in _refused(alice, model, f"http://127.0.0.2:{remote}/files/resnet.pt")
    for url in ("file:///etc/passwd", "ftp://127.0.0.1/x", f"http://user:pw@127.0.0.1:{remote}/files/resnet.pt"):
        _refused(alice, model, url)


def test_oversize_files_are_refused_and_nothing_is_stored(users, remote, s3, bucket):
    alice, _ = users
    model = _model(alice)
    assert "size limit" in _refused(alice, model, f"http://127.0.0.1:{remote}/big")
    assert "size limit" in _refused(alice, model, f"http://127.0.0.1:{remote}/big-unsized")
    assert alice.ok("models.get_by_id", {"model": model}, version=X)["model"]["uri"] == "https://elsewhere/x.pt"
    assert visible_objects(s3, bucket) == []


def test_remote_errors_are_reported(users, remote):
    alice, _ = users
    msg = _refused(alice, _model(alice), f"http://127.0.0.1:{remote}/missing", subcode=1004)
    assert "404" in msg


def test_company_isolation(users, remote):
    alice, bob = users
    model = _model(alice)
    url = f"http://127.0.0.1:{remote}/files/resnet.pt"
    assert codes(bob.error("models.import_url", {"model": model, "url": url}, version=X)) == (400, 201)
    assert codes(bob.error("models.import_url", {"model": "missing", "url": url}, version=X)) == (400, 201)


def test_s3_urls_of_our_bucket_only_for_own_objects(users, import_app, bucket):
    alice, _ = users
    blobs = import_app.modelreg_state.stores.blobs
    blobs.put(f"{COMPANY_A}/incoming/a.bin", io.BytesIO(b"alpha" * 100), 500)
    blobs.put(f"{COMPANY_B}/incoming/b.bin", io.BytesIO(b"beta"), 4)
    model = _model(alice)
    reply = alice.ok("models.import_url", {"model": model, "url": f"s3://{bucket}/{COMPANY_A}/incoming/a.bin"},
                     version=X)
    assert reply["size"] == 500
    assert alice.call("models.download", {"model": model}, version="2.13").content == b"alpha" * 100
    assert "company" in _refused(alice, model, f"s3://{bucket}/{COMPANY_B}/incoming/b.bin")
    assert "allowed_buckets" in _refused(alice, model, "s3://someone-elses-bucket/x.bin")


def test_s3_objects_past_the_size_limit_or_missing_are_the_imports_errors(users, import_app, bucket):
    alice, _ = users
    blobs = import_app.modelreg_state.stores.blobs
    blobs.put(f"{COMPANY_A}/incoming/big.bin", io.BytesIO(b"x" * (MAX_BYTES + 1)), MAX_BYTES + 1)
    model = _model(alice)
    assert "larger than the import size limit" in _refused(alice, model, f"s3://{bucket}/{COMPANY_A}/incoming/big.bin")
    missing = _refused(alice, model, f"s3://{bucket}/{COMPANY_A}/incoming/none.bin", subcode=1004)
    assert "could not be read" in missing
    assert alice.ok("models.get_by_id", {"model": model}, version="2.13")["model"]["uri"] == "https://elsewhere/x.pt"


def test_not_at_clearml_versions(users, remote):
    alice, _ = users
    meta = alice.error("models.import_url", {"model": _model(alice), "url": "http://x/y"}, version="2.34")
    assert codes(meta) == (404, 0)


@pytest.fixture
def strict_app(app_config, registry, db, s3, bucket):
    app = _app(app_config, registry, s3, bucket, allow_private_networks=False)
    yield app
    app.modelreg_state.stores.db.client.close()


def test_loopback_is_refused_unless_allowed(strict_app, remote):
    alice = make_user(strict_app, "alice", COMPANY_A, role="admin")
    model = _model(alice)
    for host in ("127.0.0.1", "localhost"):
        msg = _refused(alice, model, f"http://{host}:{remote}/files/resnet.pt")
        assert "not allowed" in msg and "loopback" in msg


@pytest.fixture
def closed_app(app_config, registry, db, s3, bucket):
    app = _app(app_config, registry, s3, bucket, allowed_hosts=[])
    yield app
    app.modelreg_state.stores.db.client.close()


def test_default_allow_list_is_empty(closed_app, remote):
    alice = make_user(closed_app, "alice", COMPANY_A, role="admin")
    assert "allow-list" in _refused(alice, _model(alice), f"http://127.0.0.1:{remote}/files/resnet.pt")


# --- https: the connection goes to the checked address, the certificate is checked for the URL's name --


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def tls_remote(tmp_path_factory):
    """An https server on 127.0.0.1 with a certificate for `localhost` from a CA of the test's own."""
    folder = tmp_path_factory.mktemp("tls")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
             "-subj", "/CN=modelreg test CA", cwd=folder)
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=localhost",
             cwd=folder)
    (folder / "ext").write_text("subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\n"
                                "authorityKeyIdentifier=keyid,issuer\nkeyUsage=digitalSignature,keyEncipherment\n"
                                "extendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-out", "srv.pem", "-days", "2", "-extfile", "ext", cwd=folder)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Remote)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "srv.pem", folder / "srv.key")
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    yield server.server_address[1], str(folder / "ca.pem")
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture
def tls_app(app_config, registry, db, s3, bucket, tls_remote):
    app = _app(app_config, registry, s3, bucket, ca_file=tls_remote[1])
    yield app
    app.modelreg_state.stores.db.client.close()


def test_https_import_checks_the_certificate_name(tls_app, tls_remote):
    alice = make_user(tls_app, "alice", COMPANY_A, role="admin")
    model = _model(alice)
    port = tls_remote[0]
    reply = alice.ok("models.import_url", {"model": model, "url": f"https://localhost:{port}/files/resnet.pt"},
                     version=X)
    assert reply["sha256"] == hashlib.sha256(WEIGHTS).hexdigest()
    # the certificate names localhost, not the address: refused although the address is the same
    msg = _refused(alice, model, f"https://127.0.0.1:{port}/files/resnet.pt", subcode=1004)
    assert "could not be fetched" in msg


def test_https_import_needs_a_trusted_certificate(import_app, tls_remote):
    alice = make_user(import_app, "alice", COMPANY_A, role="admin")
    _refused(alice, _model(alice), f"https://localhost:{tls_remote[0]}/files/resnet.pt", subcode=1004)
