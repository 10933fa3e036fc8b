"""The delivery process's work: push each webhook's change-log entries to its URL, at least once and in
seq order per webhook, however many delivery processes run.

Each round (every `webhooks.poll_interval_sec`) a process numbers pending change-log entries (the
sequencer), finds webhooks with work whose lease is free, and takes each one's lease before working on
it, in up to `webhooks.parallel` threads. Nothing lives in the process between rounds: the cursor (last
seq handled), the pending delivery and its retry time are in MongoDB, so a process killed mid-delivery
loses nothing: when its lease expires, the next holder sends the pending delivery again.

Per webhook the head of the queue is the pending delivery, else the oldest queued one, else the next
entry after the cursor of the webhook's kinds. A failed attempt is retried after a delay drawn
uniformly from [0, min(backoff_max, backoff_base * 2^attempts)] (exponential backoff with full jitter);
once a delivery has failed for `retry_window_sec`, it is parked, the webhook marked failing, and while
it is failing its new entries are parked unsent (webhooks.redeliver sends them again).

Every attempt is counted (`modelreg_webhook_deliveries_total`, `modelreg_webhook_failures_total`), and
each round sets `modelreg_change_log_lag_seconds` (services/shared/metrics.py): the age of the oldest
change-log entry waiting for an active webhook, among the webhooks the round looked at and those this
process is working on (docs/operations.md, "Metrics", says exactly what it measures).
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from database import clock, connection, ids, indexes
from database.collections import change_log_db
from database.collections import webhook_deliveries_db as store
from services.changes import retention
from services.changes.entries import public_entry
from services.changes.sequencer import sequence_pending
from services.changes.settings import ChangeSettings
from services.shared import metrics
from services.shared.kept_connections import KeptConnections
from services.webhooks import rules

log = logging.getLogger("modelreg.deliver")


RETENTION_EVERY_SEC = 3600.0  # how often a delivery process deletes entries past change_log.retention_days


def _sequence(db, changes: ChangeSettings) -> None:
    """Numbers pending change-log entries (the sequencer brings its own leases and order)."""
    sequence_pending(db, settle_sec=changes.settle_sec, lease_sec=changes.lease_sec)


def _entry_at(db, company: str, seq: int) -> dict | None:
    found = change_log_db.entries_after(db, company, seq - 1, None, 1)
    return found[0] if found and found[0].get("seq") == seq else None


def backoff(settings: rules.WebhookSettings, attempts: int) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2^attempts)]."""
    ceiling = min(settings.backoff_max_sec, settings.backoff_base_sec * (2 ** min(attempts, 40)))
    return random.uniform(0, ceiling)


class WebhookWork:
    """One lease's worth of work on one webhook by `holder`."""

    def __init__(self, db, hook: dict, holder: str, settings: rules.WebhookSettings, policy, stop: threading.Event,
                 note=None, kept: KeptConnections | None = None):
        self.db, self.hook, self.holder = db, hook, holder
        self.settings, self.policy, self.stop = settings, policy, stop
        self.kept = kept  # the process's open connections to receivers
        self.cursor = int(hook.get("cursor") or 0)
        self.renewed = time.monotonic()  # the lease was just taken
        self.waiting_since = None  # the time of the entry being sent, unless it is a redelivery (lag)
        self.note = note or (lambda _since: None)  # tells the process, for its lag gauge

    def set(self, **fields) -> bool:
        return store.set_webhook(self.db, self.hook["_id"], self.holder, fields)

    def holds_lease(self) -> bool:
        """Renews the lease when what is left of it might not cover one more attempt; False when lost."""
        margin = self.settings.attempt_timeout_sec + 5
        if time.monotonic() - self.renewed < self.settings.lease_sec - margin:
            return True
        if not store.renew_lease(self.db, self.hook["_id"], self.holder, self.settings.lease_sec):
            return False
        self.renewed = time.monotonic()
        return True

    def next_entries(self) -> tuple[list[dict], int]:
        """The entries after the cursor of the webhook's kinds (one read of the next `batch` entries,
        filtered here: a wildcard is no query), and the seq the cursor may move to once they are
        delivered (past the entries of other kinds)."""
        kinds = self.hook.get("kinds") or ["*"]
        batch = change_log_db.entries_after(self.db, self.hook["company"], self.cursor, None, self.settings.batch)
        end = batch[-1]["seq"] if batch else self.cursor
        return [e for e in batch if rules.matches(kinds, e.get("kind") or "")], end

    def park_new(self) -> None:
        """While failing: park the entries after the cursor unsent."""
        entries, end = self.next_entries()
        store.park_entries(self.db, self.hook, entries)
        if end > self.cursor:
            self.cursor = end
            self.set(cursor=end)

    def run(self) -> int:
        """Sends what is pending or queued, then up to `batch` entries after the cursor; returns how many
        were delivered."""
        if self.hook.get("queued"):  # cleared before looking: a redelivery asked for meanwhile sets it again
            self.set(queued=False)
        delivered = 0
        while not self.stop.is_set():  # one at a time: pending (retries) and queued (redeliveries)
            if self.hook.get("state") == "failing":
                self.park_new()
                return delivered
            delivery = store.head(self.db, self.hook["_id"])
            if delivery is None:
                break
            due = delivery.get("next_attempt")
            if due is not None and clock.as_utc(due) > clock.now():
                self.set(retry_at=due)
                return delivered
            entry = _entry_at(self.db, self.hook["company"], delivery["seq"])
            if entry is None:  # no longer in the change log: nothing to send
                store.attempted(self.db, delivery, {"status": None, "error": "the entry is no longer in the "
                                                    "change log"}, "parked", None, 0)
                self._passed(delivery["seq"])
                continue
            if not self.holds_lease():
                return delivered
            # a redelivery asked for (queued) is not lag; a retry of a first delivery is
            self._waits(None if delivery.get("queued_at") else entry.get("time"))
            outcome = self._send(entry, delivery["_id"])
            if not outcome["ok"]:
                if self._failed(delivery, outcome):
                    continue
                return delivered
            store.attempted(self.db, delivery, outcome, "delivered", None, self.settings.keep_delivered_sec)
            self._passed(delivery["seq"])
            delivered += 1
        return delivered + self._send_new()

    def _send_new(self) -> int:
        """The entries after the cursor, in order. The cursor moves after `checkpoint_every` deliveries
        or `checkpoint_sec` seconds, whichever comes first (after a crash the deliveries since come
        again first); the delivery records are written once per batch."""
        if self.stop.is_set():
            return 0
        entries, end = self.next_entries()
        sent: list[tuple[str, dict, dict]] = []
        checkpointed, checkpoint_count = time.monotonic(), 0
        for entry in entries:
            if self.stop.is_set() or not self.holds_lease():
                break
            delivery_id = rules.delivery_id(self.hook["_id"], entry["seq"])
            self._waits(entry.get("time"))
            outcome = self._send(entry, delivery_id)
            if not outcome["ok"]:
                self._record(sent, sent[-1][1]["seq"] if sent else self.cursor)
                self._failed(store.new_pending(self.db, self.hook, entry, delivery_id), outcome)
                return len(sent)
            sent.append((delivery_id, entry, outcome))
            if (len(sent) - checkpoint_count >= self.settings.checkpoint_every
                    or time.monotonic() - checkpointed >= self.settings.checkpoint_sec):
                self._passed(entry["seq"])
                checkpointed, checkpoint_count = time.monotonic(), len(sent)
        else:
            self._record(sent, end)
            return len(sent)
        self._record(sent, sent[-1][1]["seq"] if sent else self.cursor)
        return len(sent)

    def _record(self, sent: list, end: int) -> None:
        if sent:  # unjournaled: the webhook's write below (journaled) puts them on disk
            store.delivered_many(self.db, self.hook, sent, self.settings.keep_delivered_sec)
        if sent or end > self.cursor:
            self._passed(end)

    def _send(self, entry: dict, delivery_id: str) -> dict:
        outcome = rules.send(self.hook["url"], public_entry(entry), self.hook["secret"], delivery_id,
                             entry.get("kind") or "", self.policy, self.kept)
        metrics.count_delivery(outcome["ok"])
        return outcome

    def _waits(self, since) -> None:
        self.waiting_since = since
        self.note(since)

    def _passed(self, seq: int | None) -> None:
        fields = {"retry_at": None, "waiting_since": None}
        if seq is not None and seq > self.cursor:
            self.cursor = fields["cursor"] = seq
        self.set(**fields)

    def _failed(self, delivery: dict, outcome: dict) -> bool:
        """Schedules a retry (False: stop working on the webhook for now), or parks the delivery and
        marks the webhook failing once the retry window is over (True: go on parking)."""
        now = clock.now()
        first = clock.as_utc(delivery.get("first_attempt") or now)
        if (now - first).total_seconds() < self.settings.retry_window_sec:
            retry_at = now + timedelta(seconds=backoff(self.settings, int(delivery.get("attempts") or 0)))
            store.attempted(self.db, delivery, outcome, "pending", retry_at, 0)
            # the retry's entry keeps counting as lag while no process works on the webhook
            self.set(retry_at=retry_at, waiting_since=self.waiting_since)
            return False
        store.attempted(self.db, delivery, outcome, "parked", None, 0)
        store.park_pending_and_queued(self.db, self.hook["_id"])
        self._passed(delivery["seq"])
        self.set(state="failing", failing_since=now, last_error=outcome["error"], retry_at=None)
        self.hook["state"] = "failing"
        log.warning("webhook %s failing: %s", self.hook["_id"], outcome["error"])
        return True


class Deliverer:
    """One delivery process: rounds of work until `stop` is set."""

    def __init__(self, db, config, stop: threading.Event | None = None, holder: str | None = None):
        self.db = db
        self.settings = rules.WebhookSettings.from_config(config)
        self.changes = ChangeSettings.from_config(config)
        self.retention_due = time.monotonic()  # deletes are idempotent: any process may sweep
        self.policy = rules.policy(config, self.settings)
        self.stop = stop or threading.Event()
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{ids.new_id()[:8]}"
        self.pool = ThreadPoolExecutor(max(1, self.settings.parallel), thread_name_prefix="deliver")
        # one connection per receiver for a burst of deliveries, not one each (a TLS handshake each)
        self.kept = KeptConnections(self.settings.keep_alive_sec, max(1, self.settings.parallel))
        self._lock = threading.Lock()
        self._working: set[str] = set()  # webhooks this process holds a lease on, to not ask twice
        self._waiting: dict[str, object] = {}  # of those, the time of the entry each is sending (the lag)

    def round(self) -> int:
        """Starts work on due webhooks; returns how many were started."""
        _sequence(self.db, self.changes)
        if self.changes.retention_days > 0 and time.monotonic() >= self.retention_due:
            retention.sweep(self.db, self.changes.retention_days)
            self.retention_due = time.monotonic() + RETENTION_EVERY_SEC
        with self._lock:
            free, working = self.settings.parallel - len(self._working), set(self._working)
        started = 0
        if free <= 0:
            self._report_lag(None)
            return 0
        due, oldest = store.due_webhooks(self.db, free, working)
        self._report_lag(oldest)
        for hook in due:
            taken = store.take_lease(self.db, hook["_id"], self.holder, self.settings.lease_sec)
            if taken is None:
                continue
            with self._lock:
                self._working.add(taken["_id"])
            self.pool.submit(self._work, taken)
            started += 1
        return started

    def _report_lag(self, oldest) -> None:
        """The lag gauge: the oldest of what the round saw waiting and what this process is sending."""
        with self._lock:
            times = [clock.as_utc(t) for t in (oldest, *self._waiting.values()) if t is not None]
        now = clock.now()
        metrics.set_change_log_lag(max(((now - t).total_seconds() for t in times), default=0.0))

    def _noter(self, hook_id: str):
        def note(since) -> None:
            with self._lock:
                self._waiting[hook_id] = since
        return note

    def _work(self, hook: dict) -> None:
        try:
            WebhookWork(self.db, hook, self.holder, self.settings, self.policy, self.stop,
                        self._noter(hook["_id"]), self.kept).run()
        except Exception:  # a database hiccup: the lease expires and any holder retries from MongoDB
            log.exception("delivering to webhook %s", hook["_id"])
        finally:
            try:
                store.release_lease(self.db, hook["_id"], self.holder)
            except Exception:
                log.exception("releasing the lease of webhook %s", hook["_id"])
            with self._lock:
                self._working.discard(hook["_id"])
                self._waiting.pop(hook["_id"], None)

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.round()
            except Exception:
                log.exception("delivery round")
            self.stop.wait(self.settings.poll_interval_sec)
        self.pool.shutdown(wait=True)
        self.kept.close()


def run_forever(config, stop: threading.Event) -> None:
    """Connects to the configured database and delivers until `stop` is set."""
    mongo = config.get("mongo")
    db = connection.connect(mongo.get("uri"), mongo.get("database"), mongo.get("timeout_ms"))
    try:
        indexes.ensure_indexes(db)
        Deliverer(db, config, stop).run()
    finally:
        db.client.close()
