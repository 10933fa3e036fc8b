"""The table the gunicorn workers of one host share to spread connections (server/accept_balance.py),
used from real forked processes as gunicorn's workers use it."""

from __future__ import annotations

import multiprocessing
import os
import signal

from server.accept_balance import AcceptBalance

FORK = multiprocessing.get_context("fork")  # gunicorn forks its workers from the arbiter that made the table


def _worker(balance: AcceptBalance, connections: int | None, ready, leave) -> None:
    """A worker: claims a slot, publishes `connections` (None: still loading, no beat yet), waits."""
    assert balance.claim()
    if connections is not None:
        balance.publish(connections)
    ready.set()
    leave.wait(30)
    balance.release()


def _start(balance: AcceptBalance, connections: int | None):
    ready, leave = FORK.Event(), FORK.Event()
    process = FORK.Process(target=_worker, args=(balance, connections, ready, leave))
    process.start()
    assert ready.wait(30)
    return process, leave


def _stop(process, leave) -> None:
    leave.set()
    process.join(30)


def test_a_worker_steps_aside_only_for_a_live_worker_holding_fewer_connections():
    balance = AcceptBalance(slots=4)
    other, leave = _start(balance, 2)
    try:
        assert balance.claim()
        balance.publish(3)
        assert balance.another_takes_it(3)
        assert not balance.another_takes_it(2)  # equal counts: both listen
        assert not balance.another_takes_it(0)  # an empty worker always listens
    finally:
        _stop(other, leave)
    assert not balance.another_takes_it(3), "a worker that left the table still drew connections"


def test_a_worker_still_loading_the_app_draws_no_connections():
    balance = AcceptBalance(slots=4)
    loading, leave = _start(balance, None)  # claimed its slot, has not beaten yet
    try:
        assert balance.claim()
        assert not balance.another_takes_it(5)
    finally:
        _stop(loading, leave)


def test_a_killed_workers_slot_draws_nothing_and_is_taken_again():
    balance = AcceptBalance(slots=2)
    assert balance.claim()
    victim, _ = _start(balance, 0)  # the other slot, the last free one
    assert balance.another_takes_it(4)
    os.kill(victim.pid, signal.SIGKILL)
    victim.join(30)
    assert not balance.another_takes_it(4), "a killed worker (fresh beat, 0 connections) drew connections"
    successor, leave = _start(balance, 1)  # it can only have the killed worker's slot
    try:
        assert balance.another_takes_it(4)
    finally:
        _stop(successor, leave)


def test_no_free_slot_leaves_the_worker_out_of_the_balance():
    balance = AcceptBalance(slots=1)
    holder, leave = _start(balance, 0)
    try:
        assert not balance.claim()
        assert not balance.another_takes_it(9)  # without a slot it always listens
    finally:
        _stop(holder, leave)
