"""`python -m server backup DIR` and `python -m server restore DIR` (`./run.sh backup|restore DIR`).

They use the settings `./run.sh` serves with. With the embedded servers (no mongo.uri / s3.endpoint):
when `./run.sh` is running on the data folder, they talk to its servers; otherwise they start them for
the duration of the command (holding the data folder's lock, so `./run.sh` cannot start meanwhile).
"""

from __future__ import annotations

import fcntl
import json
import sys
from contextlib import ExitStack
from pathlib import Path

from server.config import ConfigError, load_config
from server.process import embedded

USAGE = """usage: python -m server backup DIR | restore DIR
backup:  writes every collection and stored object, with a sha256 manifest, into DIR (new or empty)
restore: checks DIR against its manifest and restores it into an empty deployment"""


def say(message: str) -> None:
    print(f"modelreg: {message}", flush=True)


def _embedded_stores(config, data_dir: Path, stack: ExitStack) -> None:
    """Points `config` at the embedded servers: the running ones of ./run.sh, or ones started here."""
    if config.get("mongo.uri") and config.get("s3.endpoint"):
        return
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = stack.enter_context(open(data_dir / ".lock", "w"))  # noqa: SIM115 - closed by the stack
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        running = False
    except OSError:
        running = True  # ./run.sh holds the folder: its servers are up on the configured ports
    logs = data_dir / "logs"
    logs.mkdir(exist_ok=True)
    if not config.get("mongo.uri"):
        port = int(config.get("mongo.embedded_port"))
        if running:
            config.put("mongo.uri", f"mongodb://127.0.0.1:{port}/")
        else:
            mongo = embedded.start_mongo(data_dir / "mongo", port, logs / "mongo.log")
            stack.callback(mongo.stop)
            config.put("mongo.uri", mongo.address)
    if not config.get("s3.endpoint"):
        port = int(config.get("s3.embedded_port"))
        keys = json.loads(embedded.read_or_create_private(data_dir / "s3_credentials.json", _new_s3_keys))
        address = f"127.0.0.1:{port}"
        if not running:
            weed = embedded.start_s3(data_dir / "s3", port, keys["access_key"], keys["secret_key"],
                                     config.get("s3.bucket"), logs / "s3.log")
            stack.callback(weed.stop)
            address = weed.address
        for name, value in (("endpoint", address), ("access_key", keys["access_key"]),
                            ("secret_key", keys["secret_key"]), ("secure", False)):
            config.put(f"s3.{name}", value)


def _new_s3_keys() -> str:
    from services.identity.credentials import new_key_pair

    key, secret = new_key_pair()
    return json.dumps({"access_key": key, "secret_key": secret})


def main(command: str, argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        return 0 if argv[:1] in (["-h"], ["--help"]) else 2
    from server.http.app import open_stores
    from services.system import backup

    folder = Path(argv[0]).expanduser().resolve()
    try:
        config = load_config()
    except ConfigError as exc:
        say(str(exc))
        return 2
    data_dir = Path(config.get("server.data_dir")).expanduser().resolve()
    with ExitStack() as stack:
        try:
            _embedded_stores(config, data_dir, stack)
            stores = open_stores(config)
            stack.callback(stores.db.client.close)
            if command == "backup":
                manifest = backup.backup(stores, folder, say)
                say(f"backup of {len(manifest['collections'])} collections and {len(manifest['objects'])} "
                    f"objects written to {folder}")
            else:
                manifest = backup.restore(stores, folder, say)
                say(f"restored {folder} (data version {manifest['data_version']}); the next start upgrades it "
                    "if it came from an older release")
        except (backup.BackupError, embedded.EmbeddedStartError) as exc:
            say(f"{command} failed: {exc}")
            return 1
    return 0
