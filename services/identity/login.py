"""login.*: what a sign-in page needs to know. The only mode offered is ClearML's "basic" one, with an
access key and its secret as user name and password (auth.login turns them into the token cookie).
ClearML's "simple" mode (a user created per login name, impersonated by a system key) is not offered:
it would let anyone who can reach the page act as a user of the default company."""

from __future__ import annotations

from services.call import Call
from services.handlers import handles


@handles("login.supported_modes")
def supported_modes(call: Call) -> dict:
    return {
        "authenticated": call.identity is not None,
        "basic": {"enabled": True, "guest": {"enabled": False}},
        "sso": {},
        "sso_providers": [],
        "server_errors": {"missed_es_upgrade": False, "es_connection_error": False},
    }


@handles("login.logout")
def logout(call: Call) -> dict:
    # the dispatcher clears the token cookie on the way out
    return {}
