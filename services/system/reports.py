"""reports.*: out of scope for a model registry. The listing answers with nothing, as a ClearML server
without reports would, so user interfaces that ask on every page stay quiet."""

from __future__ import annotations

from services.call import Call
from services.handlers import handles


@handles("reports.get_all_ex")
def get_all_ex(call: Call) -> dict:
    reply: dict = {"tasks": []}
    if "scroll_id" in call.data:
        reply["scroll_id"] = None
    return reply


@handles("reports.get_tags")
def get_tags(call: Call) -> dict:
    """No reports, so no report tags (ClearML: apiserver/services/reports.py get_tags)."""
    return {"tags": [], "system_tags": []}
