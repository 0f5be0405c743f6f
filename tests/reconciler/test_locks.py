"""The store's named lock elects one leader at a time; an expired holder is taken over; release hands over."""
from __future__ import annotations

import threading

from sqlalchemy import update

from pypeline.store.locks import NamedLock
from pypeline.store.models import Lock, utcnow
from pypeline.store.repository import RunStore
from tests.helpers import wait_until


def _expire(store: RunStore, name: str) -> None:
    """As if the holder's ttl ran out (without sleeping through it)."""
    with store.engine.begin() as conn:
        conn.execute(update(Lock.__table__).where(Lock.__table__.c.name == name)
                     .values(expires_at=utcnow().replace(year=2000)))


def test_two_contenders_one_leader_and_renewal(store: RunStore) -> None:
    a = NamedLock(store.engine, "leader", "a", ttl=30)
    b = NamedLock(store.engine, "leader", "b", ttl=30)
    assert a.acquire() and a.held
    assert not b.acquire() and not b.held
    assert a.acquire()  # renewal by the holder
    assert not b.acquire()


def test_expired_holder_is_taken_over(store: RunStore) -> None:
    a = NamedLock(store.engine, "leader", "a", ttl=30)
    b = NamedLock(store.engine, "leader", "b", ttl=30)
    assert a.acquire()
    _expire(store, "leader")
    assert b.acquire()
    assert not a.acquire()  # fenced: the old holder cannot come back while b's lease is live
    assert not a.held


def test_release_hands_over_at_once(store: RunStore) -> None:
    a = NamedLock(store.engine, "leader", "a", ttl=30)
    b = NamedLock(store.engine, "leader", "b", ttl=30)
    assert a.acquire()
    a.release()
    assert not a.held and b.acquire()


def test_held_lapses_locally_after_ttl(store: RunStore) -> None:
    a = NamedLock(store.engine, "leader", "a", ttl=0.2)
    assert a.acquire() and a.held
    # without a renewal the holder stops acting, even if the database is unreachable
    wait_until(lambda: not a.held, 5, interval=0.02, message="the lock lapsed locally")


def test_concurrent_first_acquire_has_one_winner(store: RunStore) -> None:
    contenders = [NamedLock(store.engine, "race", f"h{i}", ttl=30) for i in range(6)]
    results: list[bool] = []
    start = threading.Barrier(len(contenders))

    def go(lock: NamedLock) -> None:
        start.wait()
        results.append(lock.acquire())

    threads = [threading.Thread(target=go, args=(lock,)) for lock in contenders]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [False] * 5 + [True]
