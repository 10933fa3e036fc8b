"""Changing and deleting users, shared by auth.delete_user (our extension) and users.delete /
users.update (ClearML's): who may touch which user, written once."""

from __future__ import annotations

from database.collections.directory_db import Directory
from services import errors
from services.call import Identity
from services.identity import roles

PROFILE_FIELDS = ("name", "given_name", "family_name", "avatar")


def deletable_user(directory: Directory, identity: Identity, user_id: str, missing: errors.ApiError) -> dict:
    """A user the caller may delete: not itself, within the companies it manages, and a system or root
    user only by a server-level role. `missing` is raised for an id out of reach."""
    if user_id == identity.user:
        raise errors.BadRequest("a user cannot delete itself", user=user_id)
    target = directory.user(user_id)
    if target is None:
        raise missing
    if roles.is_server_role(target.get("role", "")) and not roles.is_server_role(identity.role):
        raise errors.RoleNotAllowed("only server-level roles may delete system or root users", user=user_id)
    return target


def update_profile(directory: Directory, identity: Identity, user_id: str, data: dict) -> dict:
    """users.update: the caller changes itself, an admin any user it manages; a user out of reach is
    not updated (0, as ClearML answers for an id of no user of the company). Returns {updated, fields}."""
    fields = {k: data[k] for k in PROFILE_FIELDS if isinstance(data.get(k), str)}
    if user_id != identity.user and not roles.is_admin(identity.role):
        raise errors.RoleNotAllowed("only admins may change other users", user=user_id)
    target = directory.user(user_id)
    if target is None or not fields:
        return {"updated": 0, "fields": {}}
    return {"updated": directory.update_profile(target, fields), "fields": fields}
