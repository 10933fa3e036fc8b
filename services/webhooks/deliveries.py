"""webhooks.get_deliveries and webhooks.redeliver (modelreg extension, 2.99; company admins)."""

from __future__ import annotations

from services import errors
from services.call import Call
from services.handlers import handles


def _own(call: Call, webhook_id: str) -> dict:
    hook = call.scope.webhooks.get_writable(webhook_id, {"_id": 1, "state": 1})
    if hook is None:
        raise errors.InvalidWebhookId(id=webhook_id)
    return hook


@handles("webhooks.get_deliveries")
def get_deliveries(call: Call) -> dict:
    data = call.data
    hook = _own(call, data["webhook"])
    docs = call.scope.webhook_deliveries.page(hook["_id"], data.get("state") or None, int(data.get("page", 0)),
                                              int(data.get("page_size", 100)))
    return {"deliveries": [{"id": d.pop("_id"), **d} for d in docs]}


@handles("webhooks.redeliver")
def redeliver(call: Call) -> dict:
    data = call.data
    if data.get("delivery"):
        queued = call.scope.webhook_deliveries.queue(data["delivery"])
        if queued is None:
            raise errors.InvalidDeliveryId("no delivered or parked delivery of the company's with this id",
                                           id=data["delivery"])
        call.scope.webhooks.resume(queued["webhook"], queued=True)
        return {"queued": 1}
    if data.get("webhook"):
        hook = _own(call, data["webhook"])
        count = call.scope.webhook_deliveries.queue_parked(hook["_id"])
        call.scope.webhooks.resume(hook["_id"], queued=count > 0)
        return {"queued": count}
    raise errors.MissingRequiredFields("name a delivery or a webhook", fields=["delivery", "webhook"])
