"""uploads.*: resumable, content-addressed uploads of large files (docs/uploads.md)."""
