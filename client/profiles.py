"""Sign-in profiles: `~/.config/modelreg/profiles.ini` (one section per profile: server, access_key,
secret_key), else the ClearML SDK's `clearml.conf` (its `api` section: api_server and
credentials.access_key / secret_key). MODELREG_SERVER, MODELREG_ACCESS_KEY and MODELREG_SECRET_KEY
override both."""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PROFILE = "default"


class ProfileError(Exception):
    pass


@dataclass(frozen=True)
class Profile:
    server: str
    access_key: str
    secret_key: str
    name: str = DEFAULT_PROFILE


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "modelreg"


def profiles_path() -> Path:
    return config_dir() / "profiles.ini"


def save_profile(profile: Profile) -> Path:
    path = profiles_path()
    parser = configparser.ConfigParser()
    parser.read(path)
    parser[profile.name] = {"server": profile.server, "access_key": profile.access_key,
                            "secret_key": profile.secret_key}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds a secret
    with os.fdopen(fd, "w") as out:
        parser.write(out)
    return path


def _from_ini(name: str) -> Profile | None:
    parser = configparser.ConfigParser()
    parser.read(profiles_path())
    if not parser.has_section(name):
        return None
    section = parser[name]
    return Profile(section.get("server", ""), section.get("access_key", ""), section.get("secret_key", ""), name)


def clearml_conf_path() -> Path:
    return Path(os.environ.get("CLEARML_CONFIG_FILE") or Path.home() / "clearml.conf")


def _from_clearml_conf() -> Profile | None:
    path = clearml_conf_path()
    if not path.is_file():
        return None
    from pyhocon import ConfigFactory  # HOCON, as the SDK writes it

    api = ConfigFactory.parse_file(str(path)).get("api", {})
    credentials = api.get("credentials", {}) if api else {}
    if not api or not api.get("api_server", ""):
        return None
    return Profile(api.get("api_server"), credentials.get("access_key", ""), credentials.get("secret_key", ""),
                   "clearml.conf")


def load_profile(name: str | None = None) -> Profile:
    """The named profile (default: MODELREG_PROFILE or "default"), falling back to clearml.conf;
    environment variables override its fields."""
    name = name or os.environ.get("MODELREG_PROFILE") or DEFAULT_PROFILE
    profile = _from_ini(name) or (_from_clearml_conf() if name == DEFAULT_PROFILE else None)
    env = {k: os.environ.get(f"MODELREG_{k.upper()}") for k in ("server", "access_key", "secret_key")}
    if profile is None and not env["server"]:
        raise ProfileError(f"no profile {name!r} in {profiles_path()} and no api section in {clearml_conf_path()}"
                           " (run `modelreg login`)")
    base = profile or Profile("", "", "", name)
    return Profile(env["server"] or base.server, env["access_key"] or base.access_key,
                   env["secret_key"] or base.secret_key, base.name)
