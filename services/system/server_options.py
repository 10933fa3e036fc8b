"""server.report_stats_option: modelreg sends no usage statistics anywhere, so the option is
reported as unsupported and a request to enable it changes nothing."""

from __future__ import annotations

from services.call import Call
from services.handlers import handles


@handles("server.report_stats_option")
def report_stats_option(call: Call) -> dict:
    return {"supported": False, "enabled": False, "current_version": call.config.get("server.server_version")}
