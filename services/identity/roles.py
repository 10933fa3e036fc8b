"""What each role may do. The schema's `allow_roles` decides per endpoint; these sets are the rules
that live outside the schema (who manages which users, the `/files` protocol)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from services import errors

if TYPE_CHECKING:  # services/call.py builds the caller's directory with is_server_role
    from services.call import Identity

# Server-level roles: every company, companies themselves, users anywhere. The first admin holds `root`.
SERVER_ROLES = ("system", "root")
# Company admins: users of their own company.
ADMIN_ROLES = SERVER_ROLES + ("admin",)
# Read-only roles: reads everywhere, no writes (the schema leaves them out of every write endpoint).
# `auditor` also reads the company's audit trail (audit.*, changes.get_since).
READ_ONLY_ROLES = ("guest", "auditor")
ROLES = ("system", "root", "admin", "superuser", "user", "annotator", "guest", "auditor")


def is_server_role(role: str) -> bool:
    return role in SERVER_ROLES


def is_admin(role: str) -> bool:
    """A company admin or a server-level role."""
    return role in ADMIN_ROLES


def require_writer(identity: Identity, what: str) -> None:
    """Refuses read-only roles (for writes that no schema entry guards, such as `/files` uploads)."""
    if identity.role in READ_ONLY_ROLES or identity.role not in ROLES:
        raise errors.RoleNotAllowed(role=identity.role, endpoint=what)
