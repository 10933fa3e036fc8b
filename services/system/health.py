"""What /readyz asks: do the database and the object store answer within a deadline. Both are asked at
once, each in its own short-lived thread, so a store that hangs costs the probe its deadline and no more
(a load balancer polls every few seconds; a thread per probe is cheap against that)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor, wait

from database import connection
from services.call import Stores


def _database(stores: Stores, seconds: float) -> None:
    connection.ping(stores.db, seconds)


def _object_store(stores: Stores, _seconds: float) -> None:
    if not stores.blobs.reachable():
        raise LookupError(f"bucket {stores.blobs.bucket} is missing")


def problems(stores: Stores, seconds: float) -> dict[str, str]:
    """{part: what failed} for each part that did not answer in time; empty when all did."""
    checks = {"database": _database}
    if stores.blobs is not None:
        checks["object_store"] = _object_store
    pool = ThreadPoolExecutor(max_workers=len(checks), thread_name_prefix="readyz")
    try:
        futures = {name: pool.submit(check, stores, seconds) for name, check in checks.items()}
        wait(futures.values(), timeout=seconds + 0.5)
        found = {}
        for name, future in futures.items():
            if not future.done():
                found[name] = f"no answer within {seconds:g} s"
            elif future.exception() is not None:
                error = future.exception()
                found[name] = f"{type(error).__name__}: {str(error)[:200]}"
        return found
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
