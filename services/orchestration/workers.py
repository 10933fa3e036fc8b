"""workers.*: agents and their activity are outside a model registry. The web app's orchestration pages
ask on every visit; these answer ClearML's shapes (apiserver/services/workers.py) with nothing in them,
so the pages show an empty list instead of a failure."""

from __future__ import annotations

from services.call import Call
from services.handlers import handles


@handles("workers.get_all")
def get_all(call: Call) -> dict:
    return {"workers": []}


@handles("workers.get_activity_report")
def get_activity_report(call: Call) -> dict:
    return {"total": [], "active": []}
