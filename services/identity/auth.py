"""auth.*: tokens, key pairs, users and companies.

Who manages whom: a company admin creates, lists and deletes users of its own company; the
server-level roles (`root`, `system`; the first admin holds `root`) do so in any company, create
companies (a user in a new company) and list companies. The schema's `allow_roles` keeps everyone
else out of these endpoints; which company a caller reaches is the rule of `call.directory`
(database/collections/directory_db.py); which roles it may grant or delete is here.
"""

from __future__ import annotations

import time

from services import errors
from services.call import Call
from services.handlers import handles
from services.identity import credentials, roles, tokens, user_admin


class FreshLoginRequired(errors.ApiError):
    code = 403
    subcode = 0
    default_msg = "A fresh sign-in is required"


def token_claims(call: Call) -> dict:
    """What a client learns from the token besides identity (the SDK picks its versions from it)."""
    server = call.config.get("server")
    return {
        "api_version": server.get("api_version_effective", server.get("api_version")),
        "server_version": server.get("server_version"),
        "server_build": "",
        "feature_set": "basic",
        "env": "modelreg",
    }


@handles("auth.login")
def login(call: Call) -> dict:
    auth = call.config.get("auth")
    expiration = call.data.get("expiration_sec") or auth.get("token_expiration_sec")
    if expiration <= 0 or expiration > auth.get("max_token_expiration_sec"):
        raise errors.ValidationError(
            f"error for field 'expiration_sec'. must be between 1 and {auth.get('max_token_expiration_sec')}"
        )
    now = int(time.time())
    identity = call.identity
    # A Basic sign-in starts a session; a token only continues its own, never past the session's end.
    session_start = identity.auth_time if identity.bearer else now
    session_end = session_start + int(auth.get("max_session_sec", auth.get("max_token_expiration_sec")))
    expires_at = min(now + int(expiration), session_end)
    if expires_at <= now:
        raise errors.InvalidToken("invalid jwt token", reason="the session has reached its longest lifetime")
    claims = token_claims(call)

    def mint(extra: dict) -> str:
        return tokens.mint(call.stores.token_secret, identity, int(expiration), {**claims, **extra},
                           credential=identity.credential, auth_time=session_start, expires_at=expires_at)

    token = call.cookie_token = mint({})
    if not identity.bearer or (identity.session_cookie and identity.browser_token):
        # A sign-in with the key pair, or the browser renewing its own session: the cookie gets a token of
        # its own, marked as the browser's, which never appears in a reply body (docs/webapp.md).
        call.cookie_token = mint({"browser": True})
    return {"token": token}


@handles("auth.logout")
def logout(call: Call) -> dict:
    return {}


@handles("auth.fixed_users_mode")
def fixed_users_mode(call: Call) -> dict:
    return {"enabled": False, "guest": {"enabled": False}, "server_errors": {}}


def _user_doc(call: Call) -> dict:
    user = call.directory.own_user()
    if user is None:
        raise errors.InvalidCredentials("the user of this token no longer exists")
    return user


@handles("auth.create_credentials")
def create_credentials(call: Call) -> dict:
    identity = call.identity
    if identity.bearer and not (identity.session_cookie and identity.browser_token):
        # A token copied out of a header, a log, a script or a reply body must not turn into a lasting key
        # pair, however it is sent: it needs a recent sign-in. The browser's own session token (set only
        # as an HttpOnly cookie, never in a body) cannot be read by scripts, and a change it signs cannot
        # come from another site (server/http/cross_site.py); the web app cannot sign in again on its
        # Workspace page, so that token may make key pairs for the whole session.
        fresh = int(call.config.get("auth.fresh_login_sec", 600))
        if time.time() - identity.auth_time > fresh:
            raise FreshLoginRequired(f"sign in with the key pair (Basic) or a token younger than {fresh} s")
    return {"credentials": credentials.issue_credentials(call.directory, _user_doc(call), call.data.get("label"))}


@handles("auth.get_credentials")
def get_credentials(call: Call) -> dict:
    found = call.directory.own_credentials()
    return {
        "credentials": [
            {
                "access_key": doc["_id"],
                **({"label": doc["label"]} if doc.get("label") else {}),
                **({"last_used": doc["last_used"]} if doc.get("last_used") else {}),
            }
            for doc in found
        ]
    }


@handles("auth.revoke_credentials")
def revoke_credentials(call: Call) -> dict:
    revoked = call.directory.revoke_own_credential(call.data["access_key"])
    if revoked:
        call.stores.credential_lease.changed()  # answers once no worker anywhere still trusts the pair
    return {"revoked": revoked}


def _target_company(call: Call) -> str:
    """The company a user-management call acts on (the directory refuses one the caller may not manage)."""
    return call.data.get("company") or call.identity.company


@handles("auth.create_user")
def create_user(call: Call) -> dict:
    role = call.data.get("role") or "user"
    if role not in roles.ROLES:
        raise errors.ValidationError(f"error for field 'role'. must be one of {', '.join(roles.ROLES)}")
    if roles.is_server_role(role) and not roles.is_server_role(call.identity.role):
        raise errors.RoleNotAllowed("only server-level roles may create system or root users", role=role)
    company = _target_company(call)
    existing_name = call.directory.company_name(company)
    if company == call.identity.company:
        company_name = call.identity.company_name or existing_name or company
    else:
        company_name = existing_name if existing_name is not None else (call.data.get("company_name") or company)
    user = call.directory.create_user(call.data["name"], company, company_name, role)
    return {
        "id": user["_id"],
        "company": company,
        "credentials": credentials.issue_credentials(call.directory, user),
    }


def _user_listing(doc: dict) -> dict:
    return {"id": doc["_id"], "name": doc.get("name", ""), "company": doc["company"],
            "company_name": doc.get("company_name", ""), "role": doc.get("role", "user"), "created": doc.get("created")}


@handles("auth.get_users")
def get_users(call: Call) -> dict:
    return {"users": [_user_listing(doc) for doc in call.directory.users(_target_company(call))]}


@handles("auth.delete_user")
def delete_user(call: Call) -> dict:
    user_id = call.data["user"]
    target = user_admin.deletable_user(call.directory, call.identity, user_id,
                                       errors.InvalidId("no such user in the company", user=user_id))
    deleted = call.directory.delete_user(target)
    call.stores.credential_lease.changed()  # answers once no worker anywhere still trusts its key pairs
    return {"deleted": deleted}


@handles("auth.get_companies")
def get_companies(call: Call) -> dict:
    return {"companies": call.directory.companies()}
