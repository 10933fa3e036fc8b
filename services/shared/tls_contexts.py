"""Verifying TLS contexts for the outbound client (services/shared/outbound.py), made once per version of
a file of trusted certificates: loading certifi's bundle takes ~16 ms, which every https connection paid
(each webhook delivery, each connection of an import). A replaced file (another modification time or
size) gets a new context. An SSLContext serves any number of threads' connections."""

from __future__ import annotations

import os
import ssl

_MADE: dict[tuple, ssl.SSLContext] = {}
KEPT = 8  # a few settings' files; older versions are let go


def verifying(ca_file: str) -> ssl.SSLContext:
    try:
        stat = os.stat(ca_file)
    except OSError:
        return ssl.create_default_context(cafile=ca_file)  # raises its own error, as before
    version = (ca_file, stat.st_mtime_ns, stat.st_size)
    context = _MADE.get(version)
    if context is None:
        context = ssl.create_default_context(cafile=ca_file)
        if len(_MADE) >= KEPT:
            _MADE.clear()
        _MADE[version] = context
    return context
