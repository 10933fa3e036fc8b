"""server.info: the server and API versions."""

import os

from services.call import Call
from services.handlers import handles


@handles("server.info")
def info(call: Call) -> dict:
    server = call.config.get("server")
    result = {
        "version": server.get("server_version"),
        "build": os.environ.get("MODELREG_SERVER_BUILD", ""),
        "commit": os.environ.get("MODELREG_SERVER_COMMIT", ""),
    }
    if call.version_at_least("2.12"):
        result["api_version"] = server.get("api_version_effective", server.get("api_version"))
    elif call.version_at_least("2.8"):
        result["uid"] = call.config.get("auth.default_company")
    return result
