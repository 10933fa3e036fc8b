"""serving.*: model endpoints are outside this server. The web app's endpoints page gets an empty list
in ClearML's shape, so it shows "no endpoints" instead of a failure."""

from __future__ import annotations

from services.call import Call
from services.handlers import handles


@handles("serving.get_endpoints")
def get_endpoints(call: Call) -> dict:
    return {"endpoints": []}
