"""auth.*: tokens, key pairs, users."""

from __future__ import annotations

import uuid

from database import users_db
from services import credentials, errors, tokens
from services.call import Call, Identity
from services.handlers import handles

ROLES = ("system", "root", "admin", "superuser", "user", "annotator", "guest")


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
    token = tokens.mint(call.stores.token_secret, call.identity, int(expiration), token_claims(call))
    return {"token": token}


@handles("auth.logout")
def logout(call: Call) -> dict:
    return {}


@handles("auth.fixed_users_mode")
def fixed_users_mode(call: Call) -> dict:
    return {"enabled": False, "guest": {"enabled": False}, "server_errors": {}}


def _user_doc(call: Call) -> dict:
    user = users_db.get_user(call.db, call.identity.user)
    if user is None:
        raise errors.InvalidCredentials("the user of this token no longer exists")
    return user


@handles("auth.create_credentials")
def create_credentials(call: Call) -> dict:
    return {"credentials": credentials.issue_credentials(call.db, _user_doc(call), call.data.get("label"))}


@handles("auth.get_credentials")
def get_credentials(call: Call) -> dict:
    found = users_db.list_credentials(call.db, call.identity.user)
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
    return {"revoked": users_db.revoke_credential(call.db, call.identity.user, call.data["access_key"])}


@handles("auth.create_user")
def create_user(call: Call) -> dict:
    role = call.data.get("role") or "user"
    if role not in ROLES:
        raise errors.ValidationError(f"error for field 'role'. must be one of {', '.join(ROLES)}")
    if role in ("system", "root") and call.identity.role not in ("system", "root"):
        raise errors.RoleNotAllowed("only system users may create system or root users", role=role)
    company = call.data.get("company") or call.identity.company
    company_name = call.data.get("company_name") or (
        call.identity.company_name if company == call.identity.company else company
    )
    user = users_db.create_user(call.db, call.data["name"], company, company_name, role, uuid.uuid4().hex)
    return {
        "id": user["_id"],
        "company": company,
        "credentials": credentials.issue_credentials(call.db, user),
    }


def admin_identity(user: dict) -> Identity:
    return Identity(user["_id"], user["company"], user["role"], user.get("name", ""), user.get("company_name", ""))
