"""users.*: the caller's own user, the names of the users of the caller's company, and per-user
interface preferences. Users of other companies are never visible, whatever the caller's role."""

from __future__ import annotations

from database.query.engine import to_api
from services import errors
from services.call import Call
from services.handlers import handles
from services.identity import user_admin
from services.shared import people


@handles("users.get_current_user")
def get_current_user(call: Call) -> dict:
    identity = call.identity
    user = call.scope.users.get(identity.user)
    if user is None:
        raise errors.InvalidCredentials("the user of these credentials no longer exists")
    company_name = call.scope.users.company_name()
    shown = {
        "id": user["_id"],
        "name": user.get("name", ""),
        # the role the call was made with, as ClearML answers (a token keeps the role it was minted with)
        "role": identity.role,
        "company": {"id": identity.company, "name": company_name or identity.company_name or ""},
        **{k: user[k] for k in ("given_name", "family_name", "avatar", "email", "created") if user.get(k)},
    }
    # the web app's first-sign-in dialog reads getting_started; ClearML fills it from its settings
    getting_started = dict(call.config.get("server.webapp_getting_started", {}) or {})
    return {"user": shown, "settings": {}, "getting_started": getting_started}


@handles("users.get_by_id")
def get_by_id(call: Call) -> dict:
    user = call.scope.users.get(call.data["user"])
    if user is None:
        raise errors.InvalidUserId(id=call.data["user"])
    return {"user": to_api(user)}


def _listing(call: Call, data: dict) -> dict:
    users, _ = call.scope.users.find_page(data)
    return {"users": users}


@handles("users.get_all")
def get_all(call: Call) -> dict:
    return _listing(call, call.data)


@handles("users.get_all_ex")
def get_all_ex(call: Call) -> dict:
    data = dict(call.data)
    projects = data.pop("active_in_projects", None)
    if projects is not None:
        scope = call.scope.projects.with_descendants(projects) if projects else None
        active = people.active_users(call.scope, scope)
        if data.get("id"):
            wanted = set(data["id"]) if isinstance(data["id"], list) else {data["id"]}
            active = [u for u in active if u in wanted]
        if not active:
            return {"users": []}
        data["id"] = active
    return _listing(call, data)


@handles("users.get_preferences")
def get_preferences(call: Call) -> dict:
    return {"preferences": call.scope.preferences.of_user(call.identity.user)}


def _check_keys(value, path: str = "preferences") -> None:
    """Empty keys are refused at any depth; '.' and '$' are stored escaped and answered back as sent
    (ClearML's users.set_preferences escapes them too: the web app names keys after ids and paths)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not key:
                raise errors.FieldsValueError("Keys cannot be empty", field=path)
            _check_keys(item, f"{path}.{key}")
    elif isinstance(value, list):
        for item in value:
            _check_keys(item, path)


@handles("users.set_preferences")
def set_preferences(call: Call) -> dict:
    changes = call.data["preferences"]
    _check_keys(changes)
    before, after = call.scope.preferences.set_top_level(call.identity.user, changes)
    if before == after:
        return {"updated": 0, "fields": {}}
    return {"updated": 1, "fields": {"preferences": after} if call.data.get("return_updated", True) else {}}


@handles("users.update")
def update(call: Call) -> dict:
    reply = user_admin.update_profile(call.directory, call.identity, call.data["user"], call.data)
    if reply["updated"] and "name" in reply["fields"]:
        call.stores.credential_lease.changed()  # key pairs carry the name: no worker keeps the old one
    return reply


@handles("users.delete")
def delete(call: Call) -> dict:
    """ClearML's users.delete (server-level roles): the user and its key pairs go; the reply is empty."""
    user_id = call.data["user"]
    target = user_admin.deletable_user(call.directory, call.identity, user_id, errors.InvalidUserId(id=user_id))
    call.directory.delete_user(target)
    call.stores.credential_lease.changed()  # answers once no worker anywhere still trusts its key pairs
    return {}
