"""https through the outbound client: a verifying TLS context is made once per version of the trusted
certificates' file (services/shared/tls_contexts.py) and made again when the file is replaced; kept
connections carry several requests over one TLS session. Certificate authorities of the test's own,
made with openssl; receivers on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess

import pytest

from services.shared import tls_contexts
from services.shared.kept_connections import KeptConnections
from services.shared.outbound import OutboundFailed, OutboundPolicy
from tests.webhook_support import Receiver, post

EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def _authority(folder, name: str) -> None:
    """`name`.pem (a CA) and a certificate it signed for 127.0.0.1 (`name`-srv.pem, `name`-srv.key)."""
    _openssl("req", "-x509", *EC, "-keyout", f"{name}.key", "-out", f"{name}.pem", "-days", "2",
             "-subj", f"/CN={name} test CA", cwd=folder)
    _openssl("req", *EC, "-keyout", f"{name}-srv.key", "-out", f"{name}-srv.csr", "-subj", "/CN=127.0.0.1",
             cwd=folder)
    (folder / "ext").write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
                                "extendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", f"{name}-srv.csr", "-CA", f"{name}.pem", "-CAkey", f"{name}.key",
             "-CAcreateserial", "-out", f"{name}-srv.pem", "-days", "2", "-extfile", "ext", cwd=folder)


def _https(folder, name: str) -> Receiver:
    remote = Receiver(keep_alive=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / f"{name}-srv.pem", folder / f"{name}-srv.key")
    remote.server.socket = context.wrap_socket(remote.server.socket, server_side=True)
    return remote


@pytest.fixture(scope="module")
def authorities(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    _authority(folder, "first")
    _authority(folder, "second")
    return folder


def test_kept_https_connections_carry_many_requests(authorities):
    remote = _https(authorities, "first")
    kept = KeptConnections(idle_sec=5)
    policy = OutboundPolicy(allow_private_networks=True, total_timeout_sec=5, ca_file=str(authorities / "first.pem"))
    try:
        url = f"https://127.0.0.1:{remote.port}/in/hook"
        assert [post(url, policy, kept) for _ in range(5)] == [200] * 5
        assert remote.connections() == 1
    finally:
        kept.close()
        remote.close()


def test_the_trusted_certificates_file_is_read_again_once_replaced(authorities, tmp_path):
    trusted = tmp_path / "trusted.pem"
    shutil.copyfile(authorities / "first.pem", trusted)
    first, second = _https(authorities, "first"), _https(authorities, "second")
    policy = OutboundPolicy(allow_private_networks=True, total_timeout_sec=5, ca_file=str(trusted))
    try:
        assert post(f"https://127.0.0.1:{first.port}/in/a", policy) == 200
        assert tls_contexts.verifying(str(trusted)) is tls_contexts.verifying(str(trusted))  # made once
        with pytest.raises(OutboundFailed):  # not trusted
            post(f"https://127.0.0.1:{second.port}/in/b", policy)
        # the operator rotates the certificate authority: written aside, moved into place
        shutil.copyfile(authorities / "second.pem", tmp_path / "next.pem")
        os.replace(tmp_path / "next.pem", trusted)
        assert post(f"https://127.0.0.1:{second.port}/in/b", policy) == 200
        with pytest.raises(OutboundFailed):
            post(f"https://127.0.0.1:{first.port}/in/a", policy)
    finally:
        first.close()
        second.close()
