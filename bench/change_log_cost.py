"""What the change log costs writes: the same writes through the full dispatcher in-process, with
`change_log.enabled` on and off, over one embedded MongoDB, rounds interleaved.

Writes: `models.edit` of an existing model (an update by id: one extra insert for its entry) and
`projects.create` (an insert). Prints writes/s per mode and round, the medians, and ends with
`change_log: edit on/off=<ratio> create on/off=<ratio>` (1.0 = free; the target is >= 0.85).

    .venv/bin/python bench/change_log_cost.py [--rounds 3] [--writes 300]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from database.collections import users_db  # noqa: E402
from server.config import load_config  # noqa: E402
from server.contract.schema_registry import load_registry  # noqa: E402
from server.http.app import build_state, create_app  # noqa: E402
from server.process.embedded import free_port, start_mongo  # noqa: E402
from services.handlers import all_handlers  # noqa: E402
from tests.helpers import ApiClient, basic  # noqa: E402


def app_for(port: int, registry, enabled: bool):
    config = load_config(overrides={"mongo.uri": f"mongodb://127.0.0.1:{port}/", "mongo.database": "bench",
                                    "auth.token_secret": secrets.token_hex(32), "change_log.enabled": enabled},
                         env={})
    return create_app(config, build_state(config, registry))


def rate(client: ApiClient, endpoint: str, data, writes: int) -> float:
    start = time.perf_counter()
    for n in range(writes):
        client.ok(endpoint, data(n), version="2.13")
    return writes / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--writes", type=int, default=300)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp())
    port = free_port()
    mongo = start_mongo(folder / "db", port, folder / "mongo.log")
    try:
        registry = load_registry(Path(__file__).resolve().parent.parent / "schema" / "services", all_handlers().keys())
        apps = {mode: app_for(port, registry, mode) for mode in (True, False)}
        db = apps[True].modelreg_state.stores.db
        user = users_db.create_user(db, "bench", "bench_company", "bench", "admin")
        users_db.add_credential(db, user, "BENCHKEY", "bench-secret")
        clients = {mode: ApiClient(app, basic("BENCHKEY", "bench-secret")) for mode, app in apps.items()}
        model = clients[False].ok("models.create", {"name": "bench-model", "uri": "s3://b/m"}, version="2.13")["id"]
        results: dict = {(m, w): [] for m in (True, False) for w in ("edit", "create")}
        for round_ in range(args.rounds):
            for mode in (True, False):
                c = clients[mode]
                edit = rate(c, "models.edit", lambda n: {"model": model, "comment": f"c{n}"}, args.writes)
                create = rate(c, "projects.create", lambda n, r=round_, m=mode: {"name": f"p-{r}-{m}-{n}"},
                              args.writes)
                results[(mode, "edit")].append(edit)
                results[(mode, "create")].append(create)
                print(f"round {round_} log={'on ' if mode else 'off'} edit {edit:7.1f}/s create {create:7.1f}/s")
        med = {k: statistics.median(v) for k, v in results.items()}
        print(f"change_log: edit on/off={med[(True, 'edit')] / med[(False, 'edit')]:.2f} "
              f"create on/off={med[(True, 'create')] / med[(False, 'create')]:.2f}")
    finally:
        mongo.stop()


if __name__ == "__main__":
    main()
