"""Handlers, one module per service, and the API's error vocabulary."""
