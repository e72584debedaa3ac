"""The FSM storages keep aiogram's contract (state and data per key, isolated, cleared,
surviving a new instance) on SQLite, PostgreSQL and Redis, and expire silent flows by our
clock."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import pytest
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import StorageKey

from tests.support import databases
from tests.support.fakes import FrozenClock
from tgshop.bot.fsm_storage import DatabaseStorage, IdleAwareStorage, RedisFsmStorage, retention
from tgshop.db.engine import Database

IDLE = timedelta(minutes=60)
KEY = StorageKey(bot_id=42, chat_id=1001, user_id=1001)

MakeStorage = Callable[[], IdleAwareStorage]


class Checkout(StatesGroup):
    name = State()
    phone = State()


@pytest.fixture(params=["sqlite", "postgres", "redis"])
async def make_storage(
    request: pytest.FixtureRequest, backends: Any, clock: FrozenClock
) -> AsyncIterator[MakeStorage]:
    """Builds a fresh storage instance each call, all over the same underlying store."""
    if request.param == "redis":
        if reason := await databases.redis_unavailable_reason():
            if databases.in_ci():
                pytest.fail(reason)
            pytest.skip(reason)
        from redis.asyncio import Redis

        prefix = f"test-{uuid.uuid4().hex}:fsm"  # tests share one Redis database
        clients: list[Redis] = []

        def make_redis() -> IdleAwareStorage:
            client = Redis.from_url(databases.redis_url())
            clients.append(client)
            return RedisFsmStorage(client, clock, IDLE, prefix)

        yield make_redis
        async for key in clients[0].scan_iter(f"{prefix}:*"):
            await clients[0].delete(key)
        for client in clients:
            await client.aclose()
        return
    db = await backends.get(request.param)
    await databases.wipe(db)
    yield lambda: DatabaseStorage(db, clock, IDLE)


async def test_state_and_data_are_kept_and_replaced(make_storage: MakeStorage) -> None:
    storage = make_storage()
    assert await storage.get_state(KEY) is None
    assert await storage.get_data(KEY) == {}
    await storage.set_state(KEY, Checkout.name)
    await storage.set_data(KEY, {"name": "<b>Eve</b> & co", "items": [1, 2], "n": 3})
    assert await storage.get_state(KEY) == "Checkout:name"
    data = await storage.get_data(KEY)
    assert data == {"name": "<b>Eve</b> & co", "items": [1, 2], "n": 3}
    data["mutated"] = True  # a caller's copy, not the stored value
    assert "mutated" not in await storage.get_data(KEY)
    assert await storage.update_data(KEY, {"phone": "+447700900123"}) == {
        "name": "<b>Eve</b> & co",
        "items": [1, 2],
        "n": 3,
        "phone": "+447700900123",
    }
    await storage.set_state(KEY, "Checkout:phone")
    assert await storage.get_state(KEY) == "Checkout:phone"
    assert (await storage.get_data(KEY))["phone"] == "+447700900123"  # state change kept data


async def test_each_person_in_each_chat_has_their_own(make_storage: MakeStorage) -> None:
    storage = make_storage()
    others = [
        StorageKey(bot_id=42, chat_id=1001, user_id=1002),  # someone else, same chat
        StorageKey(bot_id=42, chat_id=-500, user_id=1001),  # the same person in a group
        StorageKey(bot_id=43, chat_id=1001, user_id=1001),  # another bot
        StorageKey(bot_id=42, chat_id=1001, user_id=1001, thread_id=7),
        StorageKey(bot_id=42, chat_id=1001, user_id=1001, business_connection_id="bc1"),
        StorageKey(bot_id=42, chat_id=1001, user_id=1001, destiny="scene"),
    ]
    await storage.set_state(KEY, Checkout.name)
    await storage.set_data(KEY, {"mine": True})
    for index, other in enumerate(others):
        assert await storage.get_state(other) is None
        assert await storage.get_data(other) == {}
        await storage.set_state(other, f"Other:{index}")
        await storage.set_data(other, {"index": index})
    assert await storage.get_state(KEY) == "Checkout:name"
    assert await storage.get_data(KEY) == {"mine": True}
    for index, other in enumerate(others):
        assert await storage.get_state(other) == f"Other:{index}"
        assert await storage.get_data(other) == {"index": index}


async def test_clearing_forgets_state_and_data(make_storage: MakeStorage) -> None:
    storage = make_storage()
    await storage.set_state(KEY, Checkout.phone)
    await storage.set_data(KEY, {"a": 1})
    await storage.set_state(KEY, None)  # what FSMContext.clear() does
    await storage.set_data(KEY, {})
    assert await storage.get_state(KEY) is None
    assert await storage.get_data(KEY) == {}


async def test_a_new_instance_sees_what_an_earlier_one_stored(make_storage: MakeStorage) -> None:
    before_restart = make_storage()
    await before_restart.set_state(KEY, Checkout.phone)
    await before_restart.set_data(KEY, {"name": "Eve"})
    await before_restart.close()
    after_restart = make_storage()
    assert await after_restart.get_state(KEY) == "Checkout:phone"
    assert await after_restart.get_data(KEY) == {"name": "Eve"}


async def test_a_flow_silent_past_the_idle_limit_is_forgotten(
    make_storage: MakeStorage, clock: FrozenClock
) -> None:
    storage = make_storage()
    await storage.set_state(KEY, Checkout.name)
    await storage.set_data(KEY, {"name": "Eve"})
    clock.advance(minutes=59)
    assert await storage.touch(KEY) is False  # still on; and the silence starts again
    clock.advance(minutes=59)
    assert await storage.touch(KEY) is False
    assert await storage.get_state(KEY) == "Checkout:name"
    clock.advance(minutes=61)
    assert await storage.touch(KEY) is True
    assert await storage.get_state(KEY) is None
    assert await storage.get_data(KEY) == {}
    assert await storage.touch(KEY) is False  # nothing left to expire


async def test_setting_a_state_counts_as_activity(
    make_storage: MakeStorage, clock: FrozenClock
) -> None:
    storage = make_storage()
    await storage.set_state(KEY, Checkout.name)
    clock.advance(minutes=50)
    await storage.set_state(KEY, Checkout.phone)
    clock.advance(minutes=50)
    await storage.set_data(KEY, {"phone": "+1"})
    clock.advance(minutes=50)
    assert await storage.touch(KEY) is False
    assert await storage.get_state(KEY) == "Checkout:phone"


async def test_touching_another_key_does_not_expire_this_one(
    make_storage: MakeStorage, clock: FrozenClock
) -> None:
    storage = make_storage()
    other = StorageKey(bot_id=42, chat_id=1001, user_id=1002)
    await storage.set_state(KEY, Checkout.name)
    await storage.set_state(other, Checkout.name)
    clock.advance(minutes=61)
    assert await storage.touch(other) is True
    assert await storage.get_state(KEY) == "Checkout:name"


async def test_untouched_rows_are_purged_after_the_retention(
    db: Database, clock: FrozenClock
) -> None:
    storage = DatabaseStorage(db, clock, IDLE)
    old = StorageKey(bot_id=42, chat_id=1, user_id=1)
    await storage.set_state(old, Checkout.name)
    clock.advance(hours=23)
    await storage.set_state(KEY, Checkout.name)
    clock.advance(hours=2)  # the old row is 25 hours old, the other 2
    assert retention(IDLE) == timedelta(days=1)
    assert await storage.purge() == 1
    assert await storage.get_state(old) is None
    assert await storage.get_state(KEY) == "Checkout:name"


async def test_redis_keys_expire_on_their_own(clock: FrozenClock) -> None:
    if reason := await databases.redis_unavailable_reason():
        pytest.skip(reason)
    from redis.asyncio import Redis

    prefix = f"test-{uuid.uuid4().hex}:fsm"
    client = Redis.from_url(databases.redis_url())
    try:
        storage = RedisFsmStorage(client, clock, IDLE, prefix)
        await storage.set_state(KEY, Checkout.name)
        await storage.set_data(KEY, {"a": 1})
        await storage.touch(KEY)
        keys = [key async for key in client.scan_iter(f"{prefix}:*")]
        assert len(keys) == 3  # state, data, touched
        for key in keys:
            assert 0 < await client.ttl(key) <= retention(IDLE).total_seconds()
        for key in keys:
            await client.delete(key)
    finally:
        await client.aclose()
