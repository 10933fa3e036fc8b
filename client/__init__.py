"""The `modelreg` command line and Python client. It talks to a modelreg server over HTTP only and
shares no code with the server (docs/cli.md)."""

from client.api import Api, ApiFailure, NotAvailable
from client.profiles import Profile, load_profile

__all__ = ["Api", "ApiFailure", "NotAvailable", "Profile", "load_profile"]
