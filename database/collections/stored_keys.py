"""Free-form documents stored as sent: keys MongoDB would refuse or misread ('$' first, '.' inside)
are percent-escaped on the way in and restored on the way out, at every depth.

Used for events and user preferences (the ClearML web app names preference keys after ids and
paths, e.g. `hiddenProjectTableCols.<project id>`).
"""

from __future__ import annotations


def storable_key(key: str) -> str:
    key = str(key).replace("%", "%25").replace(".", "%2E")
    return "%24" + key[1:] if key.startswith("$") else key


def stored_key(key: str) -> str:
    """The key as it was sent (inverse of storable_key)."""
    if key.startswith("%24"):
        key = "$" + key[3:]
    return key.replace("%2E", ".").replace("%25", "%")


def storable(value):
    if isinstance(value, dict):
        return {storable_key(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


def as_sent(value):
    """A stored value with its keys as they were sent."""
    if isinstance(value, dict):
        return {stored_key(k): as_sent(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_sent(v) for v in value]
    return value
