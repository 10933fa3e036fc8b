"""The key pairs the server makes: ClearML's shapes, and safe to paste on a command line."""

from __future__ import annotations

import re

from services.identity.credentials import new_key_pair


def test_key_pairs_have_clearml_shapes_and_never_start_like_an_option():
    # 2,000 pairs: a secret alphabet of 64 characters starts one with "-" about once in 64, so an
    # unguarded generator fails here with certainty (the chance of passing is below 1e-13).
    pairs = [new_key_pair() for _ in range(2000)]
    for access_key, secret_key in pairs:
        assert re.fullmatch(r"[A-Z0-9]{20}", access_key)
        assert re.fullmatch(r"[A-Za-z0-9_-]{48}", secret_key)
        assert not secret_key.startswith("-")
    assert len({secret for _, secret in pairs}) == len(pairs)
