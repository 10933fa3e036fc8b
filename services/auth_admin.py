"""Creates the first admin and its key pair at start-up."""

from __future__ import annotations

from database import connection, indexes, users_db


def ensure_admin(config, generated: bool = False) -> tuple[str, str] | None:
    """Registers the configured admin key pair unless it exists; returns it when it was created.

    With `generated=True` (the launcher made the pair up because none was configured) nothing is
    created when the company already has an admin: the first start's pair stays the only one.
    """
    key, secret = config.get("admin.key"), config.get("admin.secret")
    if not key or not secret:
        raise ValueError("admin.key and admin.secret must both be set")
    mongo = config.get("mongo")
    db = connection.connect(mongo.get("uri"), mongo.get("database"), mongo.get("timeout_ms"))
    try:
        indexes.ensure_indexes(db)
        if users_db.get_credential(db, key) is not None:
            return None
        company = config.get("auth.default_company")
        admin = users_db.find_user(db, company, role="admin")
        if admin is not None and generated:
            return None
        if admin is None:
            admin = users_db.create_user(db, "admin", company, config.get("auth.default_company_name"), "admin")
        users_db.add_credential(db, admin, key, secret, label="admin")
        return key, secret
    finally:
        db.client.close()
