"""The shape of ClearML's batch endpoints (`*_many`): one id failing does not stop the others."""

from __future__ import annotations

from collections.abc import Callable

from services import errors


def run_batch(ids: list[str], operation: Callable[[str], dict]) -> dict:
    """Runs `operation(id) -> dict` per distinct id; API errors become `failed` items (anything else
    propagates). Returns `{"succeeded": [{"id", ...}], "failed": [{"id", "error"}]}`."""
    succeeded, failed = [], []
    for item_id in dict.fromkeys(ids):
        try:
            succeeded.append({"id": item_id, **operation(item_id)})
        except errors.ApiError as exc:
            failed.append({"id": item_id, "error": exc.as_dict()})
    return {"succeeded": succeeded, "failed": failed}
