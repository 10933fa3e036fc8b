"""Configuration: config/default.conf, then the file named by MODELREG_CONFIG, then MODELREG_* variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pyhocon import ConfigFactory, ConfigTree
from pyhocon.exceptions import ConfigException

from server import hocon_cache

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "config" / "default.conf"
DEFAULT_SCHEMA_DIR = ROOT / "schema" / "services"

ALIASES = {
    "MODELREG_PORT": "server.port",
    "MODELREG_DATA_DIR": "server.data_dir",
    "MODELREG_RELOAD": "server.reload",
    "MODELREG_WEBAPP_DIR": "server.webapp_dir",
    "MODELREG_IMPORT_ALLOW_PRIVATE_ADDRESSES": "outbound.allow_private_networks",  # its older name
}


class ConfigError(Exception):
    pass


def _leaf_paths(tree: ConfigTree, prefix: str = ""):
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, ConfigTree):
            yield from _leaf_paths(value, path + ".")
        else:
            yield path, value


def _coerce(text: str, like):
    if isinstance(like, bool):
        lowered = text.strip().lower()
        if lowered not in ("1", "0", "true", "false", "yes", "no", "on", "off", ""):
            raise ConfigError(f"expected a boolean, got {text!r}")
        return lowered in ("1", "true", "yes", "on")
    if isinstance(like, int):
        try:
            return int(text)
        except ValueError as exc:
            raise ConfigError(f"expected an integer, got {text!r}") from exc
    if isinstance(like, float):
        return float(text)
    if isinstance(like, list):
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def load_config(overrides: Mapping[str, object] | None = None, env: Mapping[str, str] | None = None) -> ConfigTree:
    """Merges the layers; `overrides` (dotted keys) win over everything, for tests and tools."""
    env = os.environ if env is None else env
    try:
        config = ConfigFactory.from_dict(hocon_cache.load(DEFAULT_CONFIG))
        extra = env.get("MODELREG_CONFIG")
        if extra:
            config = ConfigFactory.parse_file(extra).with_fallback(config)
    except (ConfigException, OSError, ValueError) as exc:
        raise ConfigError(f"cannot read configuration: {exc}") from exc
    by_env_name = {"MODELREG_" + path.upper().replace(".", "_"): (path, value) for path, value in _leaf_paths(config)}
    for alias, path in ALIASES.items():
        by_env_name[alias] = (path, config.get(path))
    for name, (path, like) in by_env_name.items():
        if name in env:
            try:
                config.put(path, _coerce(env[name], like))
            except ConfigError as exc:
                raise ConfigError(f"{name}: {exc}") from exc
    for path, value in (overrides or {}).items():
        config.put(path, value)
    return config


def schema_dir(config: ConfigTree) -> Path:
    return Path(config.get("server.schema_dir") or DEFAULT_SCHEMA_DIR)
