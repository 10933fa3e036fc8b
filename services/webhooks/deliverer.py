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
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from database import clock, connection, ids, indexes
from database.collections import change_log_db, webhooks_db
from database.collections import webhook_deliveries_db as store
from services.changes.entries import public_entry
from services.webhooks import rules

log = logging.getLogger("modelreg.deliver")


def _sequence(db) -> None:
    """Numbers pending change-log entries (the sequencer brings its own leases and order)."""
    from services.changes.sequencer import sequence_pending

    sequence_pending(db)


def _entry_at(db, company: str, seq: int) -> dict | None:
    found = change_log_db.entries_after(db, company, seq - 1, None, 1)
    return found[0] if found and found[0].get("seq") == seq else None


def backoff(settings: rules.WebhookSettings, attempts: int) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2^attempts)]."""
    ceiling = min(settings.backoff_max_sec, settings.backoff_base_sec * (2 ** min(attempts, 40)))
    return random.uniform(0, ceiling)


class WebhookWork:
    """One lease's worth of work on one webhook by `holder`."""

    def __init__(self, db, hook: dict, holder: str, settings: rules.WebhookSettings, policy, stop: threading.Event):
        self.db, self.hook, self.holder = db, hook, holder
        self.settings, self.policy, self.stop = settings, policy, stop
        self.cursor = int(hook.get("cursor") or 0)

    def set(self, **fields) -> bool:
        return store.set_webhook(self.db, self.hook["_id"], self.holder, fields)

    def next_entry(self) -> dict | None:
        """The next entry after the cursor of the webhook's kinds; the cursor passes the others."""
        kinds = self.hook.get("kinds") or ["*"]
        while not self.stop.is_set():
            newest = webhooks_db.last_seq(self.db, self.hook["company"])  # read first: numbering has no gaps
            batch = change_log_db.entries_after(self.db, self.hook["company"], self.cursor, rules.exact_kinds(kinds),
                                                self.settings.batch)
            for entry in batch:
                if rules.matches(kinds, entry.get("kind") or ""):
                    return entry
                self.cursor = entry["seq"]
            if len(batch) < self.settings.batch:  # every entry up to `newest` was in the batch
                self.cursor = max(self.cursor, newest)
            if self.cursor > int(self.hook.get("cursor") or 0):
                if not self.set(cursor=self.cursor):
                    return None
                self.hook["cursor"] = self.cursor
            if len(batch) < self.settings.batch:
                return None
        return None

    def park_new(self) -> None:
        """While failing: park the entries after the cursor unsent."""
        kinds = self.hook.get("kinds") or ["*"]
        batch = change_log_db.entries_after(self.db, self.hook["company"], self.cursor, None, self.settings.batch)
        if not batch:
            return
        store.park_entries(self.db, self.hook, [e for e in batch if rules.matches(kinds, e.get("kind") or "")])
        self.cursor = batch[-1]["seq"]
        self.set(cursor=self.cursor)

    def run(self) -> int:
        """Delivers up to `batch` entries; returns how many were delivered."""
        self.set(queued=False)  # before looking: a redelivery asked for meanwhile sets it again
        delivered = 0
        for _ in range(self.settings.batch):
            if self.stop.is_set():
                break
            if self.hook.get("state") == "failing":
                self.park_new()
                break
            delivery = store.head(self.db, self.hook["_id"])
            if delivery is None:
                entry = self.next_entry()
                if entry is None:
                    break
                delivery = store.new_pending(self.db, self.hook, entry)
            else:
                due = delivery.get("next_attempt")
                if due is not None and clock.as_utc(due) > clock.now():
                    self.set(retry_at=due)
                    break
                entry = _entry_at(self.db, self.hook["company"], delivery["seq"])
                if entry is None:  # no longer in the change log: nothing to send
                    store.attempted(self.db, delivery, {"status": None, "error": "the entry is no longer in the "
                                                        "change log"}, "parked", None, 0)
                    self._passed(delivery)
                    continue
            if not store.renew_lease(self.db, self.hook["_id"], self.holder, self.settings.lease_sec):
                break  # another process holds it now
            outcome = rules.send(self.hook["url"], public_entry(entry), self.hook["secret"], delivery["_id"],
                                 entry.get("kind") or "", self.policy)
            if outcome["ok"]:
                store.attempted(self.db, delivery, outcome, "delivered", None, self.settings.keep_delivered_sec)
                self._passed(delivery)
                delivered += 1
                continue
            if not self._failed(delivery, outcome):
                break
        return delivered

    def _passed(self, delivery: dict) -> None:
        fields = {"retry_at": None}
        if delivery["seq"] > self.cursor:
            self.cursor = fields["cursor"] = delivery["seq"]
        self.set(**fields)

    def _failed(self, delivery: dict, outcome: dict) -> bool:
        """Schedules a retry (False: stop working on the webhook for now), or parks the delivery and
        marks the webhook failing once the retry window is over (True: go on parking)."""
        now = clock.now()
        first = clock.as_utc(delivery.get("first_attempt") or now)
        if (now - first).total_seconds() < self.settings.retry_window_sec:
            retry_at = now + timedelta(seconds=backoff(self.settings, int(delivery.get("attempts") or 0)))
            store.attempted(self.db, delivery, outcome, "pending", retry_at, 0)
            self.set(retry_at=retry_at)
            return False
        store.attempted(self.db, delivery, outcome, "parked", None, 0)
        store.park_pending_and_queued(self.db, self.hook["_id"])
        self._passed(delivery)
        self.set(state="failing", failing_since=now, last_error=outcome["error"], retry_at=None)
        self.hook["state"] = "failing"
        log.warning("webhook %s failing: %s", self.hook["_id"], outcome["error"])
        return True


class Deliverer:
    """One delivery process: rounds of work until `stop` is set."""

    def __init__(self, db, config, stop: threading.Event | None = None, holder: str | None = None):
        self.db = db
        self.settings = rules.WebhookSettings.from_config(config)
        self.policy = rules.policy(config, self.settings)
        self.stop = stop or threading.Event()
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{ids.new_id()[:8]}"
        self.pool = ThreadPoolExecutor(max(1, self.settings.parallel), thread_name_prefix="deliver")
        self._lock = threading.Lock()
        self._working: set[str] = set()  # webhooks this process holds a lease on, to not ask twice

    def round(self) -> int:
        """Starts work on due webhooks; returns how many were started."""
        _sequence(self.db)
        with self._lock:
            free, working = self.settings.parallel - len(self._working), set(self._working)
        started = 0
        if free <= 0:
            return 0
        for hook in store.due_webhooks(self.db, free, working):
            taken = store.take_lease(self.db, hook["_id"], self.holder, self.settings.lease_sec)
            if taken is None:
                continue
            with self._lock:
                self._working.add(taken["_id"])
            self.pool.submit(self._work, taken)
            started += 1
        return started

    def _work(self, hook: dict) -> None:
        try:
            WebhookWork(self.db, hook, self.holder, self.settings, self.policy, self.stop).run()
        except Exception:  # a database hiccup: the lease expires and any holder retries from MongoDB
            log.exception("delivering to webhook %s", hook["_id"])
        finally:
            try:
                store.release_lease(self.db, hook["_id"], self.holder)
            except Exception:
                log.exception("releasing the lease of webhook %s", hook["_id"])
            with self._lock:
                self._working.discard(hook["_id"])

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                self.round()
            except Exception:
                log.exception("delivery round")
            self.stop.wait(self.settings.poll_interval_sec)
        self.pool.shutdown(wait=True)


def run_forever(config, stop: threading.Event) -> None:
    """Connects to the configured database and delivers until `stop` is set."""
    mongo = config.get("mongo")
    db = connection.connect(mongo.get("uri"), mongo.get("database"), mongo.get("timeout_ms"))
    try:
        indexes.ensure_indexes(db)
        Deliverer(db, config, stop).run()
    finally:
        db.client.close()
