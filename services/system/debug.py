"""debug.ping: a health check that needs no credentials."""

from services.call import Call
from services.handlers import handles


@handles("debug.ping")
def ping(call: Call) -> dict:
    return {**call.data, "msg": "ClearML server"}
