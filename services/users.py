"""users.*: the caller's own user, the names of the users of the caller's company, and per-user
interface preferences. Users of other companies are never visible, whatever the caller's role."""

from __future__ import annotations

from database import directory_db, preferences_db, projects_db, users_db
from services import errors
from services.call import Call
from services.handlers import handles


@handles("users.get_current_user")
def get_current_user(call: Call) -> dict:
    identity = call.identity
    user = users_db.get_user(call.db, identity.user)
    if user is None or user.get("company") != identity.company:
        raise errors.InvalidCredentials("the user of these credentials no longer exists")
    company_name = directory_db.company_names(call.db, [identity.company]).get(identity.company)
    shown = {
        "id": user["_id"],
        "name": user.get("name", ""),
        # the role the call was made with, as ClearML answers (a token keeps the role it was minted with)
        "role": identity.role,
        "company": {"id": identity.company, "name": company_name or identity.company_name or ""},
        **{k: user[k] for k in ("given_name", "family_name", "avatar", "email", "created") if user.get(k)},
    }
    return {"user": shown, "settings": {}}


@handles("users.get_by_id")
def get_by_id(call: Call) -> dict:
    user = directory_db.get_company_user(call.db, call.company, call.data["user"])
    if user is None:
        raise errors.InvalidUserId(id=call.data["user"])
    return {"user": user}


def _listing(call: Call, data: dict) -> dict:
    users = directory_db.find_users(call.db, call.company, data,
                                    max_page_size=int(call.config.get("query.max_page_size", 500)))
    return {"users": users}


@handles("users.get_all")
def get_all(call: Call) -> dict:
    return _listing(call, call.data)


@handles("users.get_all_ex")
def get_all_ex(call: Call) -> dict:
    data = dict(call.data)
    projects = data.pop("active_in_projects", None)
    if projects is not None:
        scope = projects_db.with_descendants(call.db, projects) if projects else None
        active = directory_db.active_users(call.db, call.company, scope)
        if data.get("id"):
            wanted = set(data["id"]) if isinstance(data["id"], list) else {data["id"]}
            active = [u for u in active if u in wanted]
        if not active:
            return {"users": []}
        data["id"] = active
    return _listing(call, data)


@handles("users.get_preferences")
def get_preferences(call: Call) -> dict:
    return {"preferences": preferences_db.get_preferences(call.db, call.identity.user)}


def _check_keys(value, path: str = "preferences") -> None:
    """ClearML refuses keys with '.' or a leading '$' at any depth (MongoDB field names)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not key or "." in key or key.startswith("$"):
                raise errors.FieldsValueError(
                    f"Key {key!r} is invalid. Keys cannot be empty, start with '$' or contain '.'", field=path)
            _check_keys(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            _check_keys(item, path)


@handles("users.set_preferences")
def set_preferences(call: Call) -> dict:
    changes = call.data["preferences"]
    _check_keys(changes)
    before, after = preferences_db.set_top_level(call.db, call.identity.user, call.company, changes)
    if before == after:
        return {"updated": 0, "fields": {}}
    return {"updated": 1, "fields": {"preferences": after} if call.data.get("return_updated", True) else {}}
