"""Creates the first admin and its key pair at start-up.

The first admin holds the server-level role `root` (companies, users in any company). Servers
started before that role existed made it a plain `admin` of the default company; it is promoted on
the next start: the owner of the configured key pair, or else the default company's first `admin`
user named "admin" (the one this module created).
"""

from __future__ import annotations

from database import connection, indexes, migrations
from database.collections import users_db

FIRST_ADMIN_ROLE = "root"


def ensure_admin(config, generated: bool = False) -> tuple[str, str] | None:
    """Registers the configured admin key pair unless it exists; returns it when it was created.

    With `generated=True` (the launcher made the pair up because none was configured) nothing is
    created when the company already has a first admin: the first start's pair stays the only one.
    """
    key, secret = config.get("admin.key"), config.get("admin.secret")
    if not key or not secret:
        raise ValueError("admin.key and admin.secret must both be set")
    mongo = config.get("mongo")
    journal = bool(mongo.get("journal", True))
    db = connection.connect(mongo.get("uri"), mongo.get("database"), mongo.get("timeout_ms"), journal=journal)
    try:
        # the first admin is written in the newest data version: an older release's data is upgraded first
        migrations.upgrade(db, mongo.get("uri"), mongo.get("timeout_ms"), journal,
                           float(config.get("migrations.lease_sec", 60)))
        indexes.ensure_indexes(db)
        company = config.get("auth.default_company")
        existing = users_db.get_credential(db, key)
        if existing is not None:
            owner = users_db.get_user(db, existing["user"])
            if owner is not None and owner["company"] == company:
                _promote(db, owner)
            return None
        admin = _first_admin(db, company)
        if admin is not None:
            _promote(db, admin)
            if generated:
                return None
        else:
            admin = users_db.create_user(db, "admin", company, config.get("auth.default_company_name"),
                                         FIRST_ADMIN_ROLE)
        users_db.add_credential(db, admin, key, secret, label="admin")
        return key, secret
    finally:
        db.client.close()


def _first_admin(db, company: str) -> dict | None:
    return (users_db.find_user(db, company, role=FIRST_ADMIN_ROLE)
            or users_db.find_user(db, company, role="admin", name="admin"))


def _promote(db, user: dict) -> None:
    if user.get("role") == "admin":
        users_db.set_role(db, user["_id"], FIRST_ADMIN_ROLE)
        user["role"] = FIRST_ADMIN_ROLE
