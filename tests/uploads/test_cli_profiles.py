"""Where the command line finds its sign-in: saved profiles, the ClearML SDK's clearml.conf, the
environment; and the exit code each failure maps to."""

from __future__ import annotations

import pytest

from client import cli
from client.api import ApiFailure, NotAvailable
from client.profiles import Profile, ProfileError, load_profile, save_profile
from client.transfer import IntegrityFailure, announced_sha256

CLEARML_CONF = """
api {
    web_server: http://localhost:8080
    api_server: http://registry.example:8008
    files_server: http://registry.example:8008/files
    credentials {"access_key": "CLEARMLKEY", "secret_key": "clearml-secret"}
}
sdk { development { default_output_uri: "" } }
"""


@pytest.fixture
def home(tmp_path, monkeypatch):
    for name in ("MODELREG_PROFILE", "MODELREG_SERVER", "MODELREG_ACCESS_KEY", "MODELREG_SECRET_KEY",
                 "CLEARML_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path


def test_clearml_conf_signs_in_when_no_profile_is_saved(home):
    with pytest.raises(ProfileError):
        load_profile()
    (home / "clearml.conf").write_text(CLEARML_CONF)
    profile = load_profile()
    assert (profile.server, profile.access_key, profile.secret_key) == (
        "http://registry.example:8008", "CLEARMLKEY", "clearml-secret")


def test_a_saved_profile_wins_and_the_environment_overrides_it(home, monkeypatch):
    (home / "clearml.conf").write_text(CLEARML_CONF)
    path = save_profile(Profile("http://saved:1", "SAVEDKEY", "saved-secret"))
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert load_profile().access_key == "SAVEDKEY"
    save_profile(Profile("http://other:2", "OTHERKEY", "other-secret", "other"))
    assert load_profile("other").server == "http://other:2"
    monkeypatch.setenv("MODELREG_SERVER", "http://env:3")
    assert load_profile().server == "http://env:3" and load_profile().access_key == "SAVEDKEY"


@pytest.mark.parametrize("failure,code", [
    (NotAvailable("x", 404), cli.EXIT_NOT_AVAILABLE), (ApiFailure("x", 401, 21), cli.EXIT_AUTH),
    (ApiFailure("x", 403, 20), cli.EXIT_AUTH), (ApiFailure("x", 400, 201), cli.EXIT_NOT_FOUND),
    (ApiFailure("x", 400, 1002), cli.EXIT_INTEGRITY), (IntegrityFailure("x"), cli.EXIT_INTEGRITY),
    (ApiFailure("x", 503, 2), cli.EXIT_UNREACHABLE), (ApiFailure("x", 0), cli.EXIT_UNREACHABLE),
    (ApiFailure("x", 400, 12), cli.EXIT_ERROR),
])
def test_exit_codes(failure, code):
    assert cli.exit_code(failure) == code


def test_the_announced_sha256_is_read_from_any_digest_header():
    sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert announced_sha256({"Repr-Digest": "sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:"}) == sha
    assert announced_sha256({"Digest": "md5=x, sha-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}) == sha
    assert announced_sha256({"ETag": f'"{sha}"'}) == sha
    assert announced_sha256({"ETag": '"d41d8cd98f00b204e9800998ecf8427e"'}) is None
