"""storage.get_settings: the cloud storage credentials ClearML's server can hand the web app. This server
hands out none (its files are served at /files), so the settings are empty in ClearML's shape."""

from __future__ import annotations

from services.call import Call
from services.handlers import handles


@handles("storage.get_settings")
def get_settings(call: Call) -> dict:
    return {"settings": {}}
