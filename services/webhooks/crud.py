"""webhooks.create, get_all, edit, delete, test (modelreg extension, 2.99; company admins).

A webhook belongs to its company; another company's ids are not found. Its secret is stored for signing
and never returned, except a generated one in the reply of create.
"""

from __future__ import annotations

import secrets

from database import clock, ids
from services import errors
from services.call import Call
from services.changes import sequencer
from services.handlers import handles
from services.webhooks import rules


def own_webhook(call: Call, webhook_id: str) -> dict:
    hook = call.scope.webhooks.get_writable(webhook_id)
    if hook is None:
        raise errors.InvalidWebhookId(id=webhook_id)
    return hook


def shown(doc: dict) -> dict:
    out = {k: v for k, v in doc.items() if k not in ("_id", "secret", "company", "lease_holder", "lease_expires",
                                                      "retry_at", "queued")}
    return {"id": doc["_id"], **out}


@handles("webhooks.create")
def create(call: Call) -> dict:
    data = call.data
    settings = rules.WebhookSettings.from_config(call.config)
    url = rules.checked_url(data["url"], call.config)
    kinds = rules.checked_kinds(data["kinds"])
    if call.scope.webhooks.count_own() >= settings.max_per_company:
        raise errors.ValidationError("a company has at most webhooks.max_per_company webhooks",
                                     max_per_company=settings.max_per_company)
    generated = not data.get("secret")
    secret = secrets.token_hex(32) if generated else data["secret"]
    # Delivery starts after the log's last numbered entry: number what is still pending first, so that
    # changes made before the webhook existed (the caller's own just now included) are not sent to it.
    sequencer.catch_up(call.scope.change_log, call.stores.change_settings)
    when = clock.now()
    doc = {"_id": ids.new_id(), "user": call.identity.user, "url": url, "kinds": kinds, "secret": secret,
           "created": when, "last_update": when, "state": "active", "failing_since": None, "last_error": None,
           "retry_at": None, "queued": False, "lease_holder": None, "lease_expires": None}
    call.scope.webhooks.create(doc)
    return {"id": doc["_id"], "secret": secret} if generated else {"id": doc["_id"]}


@handles("webhooks.get_all")
def get_all(call: Call) -> dict:
    wanted = [i for i in call.data.get("ids") or [] if isinstance(i, str)]
    if call.data.get("ids") and not wanted:
        return {"webhooks": []}
    limit = rules.WebhookSettings.from_config(call.config).max_per_company
    return {"webhooks": [shown(d) for d in call.scope.webhooks.listed(wanted or None, limit)]}


@handles("webhooks.edit")
def edit(call: Call) -> dict:
    data = call.data
    hook = own_webhook(call, data["webhook"])
    fields = {}
    if data.get("url") is not None:
        fields["url"] = rules.checked_url(data["url"], call.config)
    if data.get("kinds") is not None:
        fields["kinds"] = rules.checked_kinds(data["kinds"])
    if data.get("secret") is not None:
        fields["secret"] = data["secret"]
    if not fields:
        return {"updated": 0, "fields": {}}
    updated = call.scope.webhooks.edit(hook["_id"], fields)
    return {"updated": updated, "fields": {**fields, **({"secret": True} if "secret" in fields else {})}}


@handles("webhooks.delete")
def delete(call: Call) -> dict:
    hook = own_webhook(call, call.data["webhook"])
    deleted = call.scope.webhooks.delete(hook["_id"])
    call.scope.webhook_deliveries.delete_of_webhook(hook["_id"])
    return {"deleted": deleted}


@handles("webhooks.test")
def test(call: Call) -> dict:
    hook = call.scope.webhooks.get_writable(call.data["webhook"], {"secret": 1, "url": 1})
    if hook is None:
        raise errors.InvalidWebhookId(id=call.data["webhook"])
    settings = rules.WebhookSettings.from_config(call.config)
    delivery_id = ids.new_id()
    payload = {"kind": "ping", "webhook": hook["_id"], "company": call.identity.company,
               "time": clock.now().isoformat(timespec="milliseconds").replace("+00:00", "Z")}
    outcome = rules.send(hook["url"], payload, hook["secret"], delivery_id, "ping",
                         rules.policy(call.config, settings))
    record = call.scope.webhook_deliveries.add_ping(delivery_id, hook["_id"], outcome, settings.keep_delivered_sec)
    return {"delivery": record["_id"], **outcome}
