"""The `change_log` settings (config/default.conf), read once per app."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChangeSettings:
    enabled: bool = True  # record changes at all (off only to measure what recording costs)
    settle_sec: float = 0.1  # entries younger than this are not numbered yet
    lease_sec: float = 5.0  # a sequencer's per-company lease
    max_change_bytes: int = 8192  # before/after values of one entry, each side
    summarise_over: int = 50  # one insert of more documents than this is logged as one summary entry
    retention_days: float = 0.0  # 0: keep every entry
    max_wait_sec: float = 30.0  # longest long poll of changes.get_since
    poll_sec: float = 0.25  # how often a long poll looks at the database

    @classmethod
    def from_config(cls, config) -> ChangeSettings:
        if config is None:
            return cls()
        get = config.get
        enabled = get("change_log.enabled", True)
        if isinstance(enabled, str):
            enabled = enabled.strip().lower() not in ("0", "false", "no", "off", "")
        return cls(bool(enabled), float(get("change_log.settle_ms", 100)) / 1000,
                   float(get("change_log.lease_sec", 5)),
                   int(get("change_log.max_change_bytes", 8192)), int(get("change_log.summarise_over", 50)),
                   float(get("change_log.retention_days", 0)), float(get("change_log.max_wait_sec", 30)),
                   float(get("change_log.poll_ms", 250)) / 1000)
