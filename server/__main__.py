"""`python -m server <command>`: serve, deliver, schema check, openapi."""

from __future__ import annotations

import sys

USAGE = """usage: python -m server <command>
  serve              start the embedded servers (unless configured away) and gunicorn
  deliver            deliver change-log entries to webhooks (beside serve, or alone; any number)
  schema check [DIR] check a schema folder; prints file:endpoint:version: message per problem
  openapi            print the OpenAPI 3.1 document generated from the schema files
  backup DIR         write every collection and stored object, with a checksum manifest, into DIR
  restore DIR        restore a backup into an empty deployment
"""


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(USAGE)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command == "serve":
        from server.process.launcher import main as serve

        return serve(rest)
    if command == "deliver":
        from server.process.deliver import main as deliver

        return deliver(rest)
    if command == "schema" and rest[:1] == ["check"]:
        from server.contract.schema_check import main as check

        return check(rest[1:])
    if command in ("backup", "restore"):
        from server.process.backup_cli import main as backup_or_restore

        return backup_or_restore(command, rest)
    if command == "openapi":
        from server.contract.openapi import main as openapi

        return openapi(rest)
    print(USAGE, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
