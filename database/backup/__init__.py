"""Backups of a deployment: every collection and every stored object, streamed, with a manifest of
sha256 checksums (dump.py writes one, load.py checks and restores one into an empty deployment).

Layout of a backup folder:
    manifest.json             format, data version, and per file its size, documents/key and sha256
    collections/<name>.bson   the collection's documents as concatenated BSON (mongodump's format)
    objects/<n>.blob          one stored object each; the manifest names its key and content type
"""

FORMAT = "modelreg-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
