"""A model's records in and out as files: every record streamed out as JSON lines or CSV
(`records.get_all` with NDJSON), and a JSON-lines file streamed in (`records.add_many`)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import requests

from client.api import Api, ApiFailure

CHUNK = 1 << 20  # bytes of the file sent at a time: the body is streamed, never read whole


def export_records(api: Api, model: str, form: str, output: Path | None) -> int:
    """Writes every record of `model` to `output` (stdout when None) as `form` (ndjson or csv); returns
    how many."""
    lines = api.lines("records.get_all", {"model": [model]})
    out = open(output, "w", newline="") if output else sys.stdout  # noqa: SIM115
    try:
        writer, count = None, 0
        for line in lines:
            count += 1
            if form == "ndjson":
                out.write(line.decode() + "\n")
                continue
            record = json.loads(line)
            flat = {k: json.dumps(v) if isinstance(v, (dict, list)) else v for k, v in record.items()}
            if writer is None:
                writer = csv.DictWriter(out, fieldnames=list(flat), extrasaction="ignore")
                writer.writeheader()
            writer.writerow(flat)
    finally:
        lines.close()
        if out is not sys.stdout:
            out.close()
    return count


def import_records(api: Api, model: str, source: str, dataset: str | None = None) -> dict:
    """Sends the JSON lines of `source` (a path, or - for stdin) to `records.add_many` as one streamed
    body; returns its reply: how many lines were read and stored, and the refused lines with why."""
    params = {"model": model, **({"dataset": dataset} if dataset else {})}
    stream = sys.stdin.buffer if source == "-" else open(source, "rb")  # noqa: SIM115
    try:
        chunks = iter(lambda: stream.read(CHUNK), b"")
        reply = api.session.post(api.url("records.add_many"), params=params, data=chunks, timeout=api.timeout,
                                 headers={"Content-Type": "application/x-ndjson"})
    except requests.RequestException as exc:
        raise ApiFailure(f"cannot reach {api.base}: {exc}", endpoint="records.add_many") from exc
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    return api.unwrap(reply, "records.add_many")
