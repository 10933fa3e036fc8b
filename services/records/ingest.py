"""records.add_many: many records of one model in one call, from a JSON-lines body (or a JSON list).

The body is read as the client sends it (the server checks each line on its own, services.call.BodyLine)
and stored in batches of `BATCH` records, one insert each; the next batch is read and checked while the
database stores the previous one. A refused line (bad JSON, a field the line schema refuses, an unknown
dataset) is named in the reply and never stops the others: every line the reply does not refuse is
stored. When the call fails part-way (the database goes away, the client stops sending), the error
says how many records were stored and through which line, so a client can send the rest again.
"""

from __future__ import annotations

import contextvars
from concurrent.futures import Future, ThreadPoolExecutor

from database import clock
from database.errors import QueryError
from services import errors, failures
from services.call import Call
from services.handlers import handles
from services.records import model_data

BATCH = 1000  # records per insert: one round trip and one journal flush each
MAX_REFUSED_SHOWN = 1000  # refused lines named in the reply (all are counted)


class _Progress:
    """What is stored so far: records, and the last line of the last stored batch."""

    def __init__(self) -> None:
        self.stored = 0
        self.through_line = 0


def _store(insert, batch: list[dict], last_line: int, progress: _Progress) -> None:
    progress.stored += insert(batch)
    progress.through_line = last_line


@handles("records.add_many")
def add_many(call: Call) -> dict:
    model_id = model_data.own_model(call.scope, call.data["model"])["_id"]
    scope, user = call.scope, call.identity.user
    datasets: dict[str, str | errors.ApiError] = {}

    def dataset_of(value: str | None) -> str | None:
        if not value:
            return None
        if value not in datasets:  # each name or id looked up once per call
            try:
                datasets[value] = model_data.dataset_of_model(scope, model_id, value)
            except errors.ApiError as exc:
                datasets[value] = exc
        found = datasets[value]
        if isinstance(found, errors.ApiError):
            raise found
        return found

    default_dataset = dataset_of(call.data.get("dataset"))  # a bad default refuses the call, not each line
    progress, refused, lines = _Progress(), [], 0
    refused_count = last_number = 0
    batch: list[dict] = []
    pending: Future | None = None
    insert = scope.records.insert_many
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="add_many") as writer:
            when = clock.now()
            for line in call.body or ():
                lines, last_number = lines + 1, line.number
                problem = line.problem
                if line.item is not None:
                    try:
                        dataset = dataset_of(line.item["dataset"]) if "dataset" in line.item else default_dataset
                        batch.append(model_data.new_record(user, model_id, line.item, dataset, when))
                    except (errors.ApiError, QueryError) as exc:  # this line's fields only
                        problem = failures.to_api_error(exc, "").message
                if problem is not None:
                    refused_count += 1
                    if len(refused) < MAX_REFUSED_SHOWN:
                        refused.append({"line": line.number, "error": problem})
                if len(batch) >= BATCH:
                    if pending is not None:
                        pending.result()
                    # in the call's context: its deadline, and the note that it wrote (database/connection.py)
                    pending = writer.submit(contextvars.copy_context().run, _store, insert, batch, line.number,
                                            progress)
                    batch, when = [], clock.now()
            if pending is not None:
                pending.result()
            if batch:
                _store(insert, batch, last_number, progress)
    except BaseException as exc:
        error = failures.to_api_error(exc, f"trx {call.trx} records.add_many")
        error.kwargs = {**error.kwargs, "stored": progress.stored, "stored_through_line": progress.through_line}
        raise error from exc
    return {"stored": progress.stored, "lines": lines, "refused_count": refused_count, "refused": refused}
