from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import event

from tests.support.fakes import FrozenClock
from tgshop.db.engine import Database
from tgshop.domain.errors import InvalidRequest
from tgshop.services.users import TelegramUserData, UserService


async def test_first_contact_creates_and_later_contact_updates(
    db: Database, clock: FrozenClock
) -> None:
    users = UserService(db, clock)
    first = await users.onboard(TelegramUserData(42, "Alice", None, "alice", "ru-RU"))
    assert first.language == "ru"
    assert first.referral_code
    again = await users.onboard(TelegramUserData(42, "Alicia", "Smith", "alicia", "ru"))
    assert again.id == first.id
    assert (again.first_name, again.last_name, again.username) == ("Alicia", "Smith", "alicia")
    assert again.referral_code == first.referral_code


async def test_chosen_language_is_kept_over_telegram(db: Database, clock: FrozenClock) -> None:
    users = UserService(db, clock)
    user = await users.onboard(TelegramUserData(7, "Bob", language_code="en"))
    assert user.language == "en"
    await users.set_language(user.id, "ru")
    after = await users.onboard(TelegramUserData(7, "Bob", language_code="en"))
    assert after.language == "ru"


async def test_unknown_language_falls_back_to_english(db: Database, clock: FrozenClock) -> None:
    users = UserService(db, clock)
    user = await users.onboard(TelegramUserData(8, "Zé", language_code="pt-BR"))
    assert user.language == "en"
    with pytest.raises(InvalidRequest, match="language must be one of"):
        await users.set_language(user.id, "pt")


async def test_concurrent_first_updates_create_one_user(db: Database, clock: FrozenClock) -> None:
    users = UserService(db, clock)
    views = await asyncio.gather(*(users.onboard(TelegramUserData(99, f"N{i}")) for i in range(10)))
    assert len({v.id for v in views}) == 1


async def test_invalid_telegram_id(db: Database, clock: FrozenClock) -> None:
    with pytest.raises(InvalidRequest):
        await UserService(db, clock).onboard(TelegramUserData(0, "x"))


async def test_a_referrer_is_recorded_once_and_never_oneself(
    db: Database, clock: FrozenClock
) -> None:
    from sqlalchemy import select

    from tgshop.db.models import User

    users = UserService(db, clock)
    ann = await users.onboard(TelegramUserData(501, "Ann"))
    bob = await users.onboard(TelegramUserData(502, "Bob"))
    eve = await users.onboard(TelegramUserData(503, "Eve"))

    async def referrer(user_id: int) -> int | None:
        async with db.read() as session:
            return (
                await session.execute(select(User.referrer_id).where(User.id == user_id))
            ).scalar_one()

    assert not await users.record_referrer(bob.id, bob.referral_code)  # oneself
    assert not await users.record_referrer(bob.id, "no-such-code")
    assert not await users.record_referrer(bob.id, "")
    assert not await users.record_referrer(bob.id, "x" * 33)
    assert not await users.record_referrer(bob.id, ann.referral_code.upper() + "?")
    assert await referrer(bob.id) is None
    assert await users.record_referrer(bob.id, ann.referral_code)
    assert not await users.record_referrer(bob.id, eve.referral_code)  # never changes
    assert not await users.record_referrer(bob.id, ann.referral_code)  # and only once
    assert await referrer(bob.id) == ann.id
    assert not await users.record_referrer(ann.id, bob.referral_code)  # no two-person loop
    assert await referrer(ann.id) is None


async def test_concurrent_referral_links_record_one_referrer(
    db: Database, clock: FrozenClock
) -> None:
    users = UserService(db, clock)
    newcomer = await users.onboard(TelegramUserData(600, "New"))
    inviters = [await users.onboard(TelegramUserData(601 + i, f"I{i}")) for i in range(5)]
    recorded = await asyncio.gather(
        *(users.record_referrer(newcomer.id, i.referral_code) for i in inviters)
    )
    assert recorded.count(True) == 1


async def test_a_returning_person_with_the_same_details_skips_the_database(
    db: Database, clock: FrozenClock
) -> None:
    statements: list[str] = []

    def count(conn: object, cursor: object, sql: str, *args: object) -> None:
        statements.append(sql)

    users = UserService(db, clock, remember_seconds=60)
    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        alice = await users.onboard(TelegramUserData(4242, "Alice", language_code="en"))
        statements.clear()
        again = await users.onboard(TelegramUserData(4242, "Alice", language_code="en"))
        assert again == alice and statements == []  # served from memory
        renamed = await users.onboard(TelegramUserData(4242, "Alicia", language_code="en"))
        assert renamed.first_name == "Alicia" and statements  # new details: written
        statements.clear()
        await users.set_language(alice.id, "ru")  # a change through the service...
        after = await users.onboard(TelegramUserData(4242, "Alicia", language_code="en"))
        assert after.language == "ru"  # ...is seen at once
        await users.set_blocked(alice.id, True, "test")
        assert (
            await users.onboard(TelegramUserData(4242, "Alicia", language_code="en"))
        ).is_blocked
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


async def test_without_a_memory_every_update_reads_the_database(
    db: Database, clock: FrozenClock
) -> None:
    users = UserService(db, clock)  # remember_seconds=0
    other = UserService(db, clock)  # another process, say
    bob = await users.onboard(TelegramUserData(4343, "Bob"))
    await other.set_blocked(bob.id, True, "test")
    assert (await users.onboard(TelegramUserData(4343, "Bob"))).is_blocked


async def test_a_returning_person_with_unchanged_details_costs_a_read_not_a_write(
    db: Database, clock: FrozenClock
) -> None:
    writes: list[str] = []

    def note(conn: object, cursor: object, sql: str, *args: object) -> None:
        if not sql.lstrip().upper().startswith(("SELECT", "BEGIN", "ROLLBACK", "COMMIT")):
            writes.append(sql)

    users = UserService(db, clock)  # no memory: every update reaches the database
    alice = await users.onboard(TelegramUserData(4444, "Alice", "Liddell", "alice", "en"))
    event.listen(db.engine.sync_engine, "before_cursor_execute", note)
    try:
        again = await users.onboard(TelegramUserData(4444, "Alice", "Liddell", "alice", "en"))
        assert again == alice and writes == []  # the same details: nothing to write
        await users.set_language(alice.id, "ru")
        writes.clear()
        # Telegram says "en", but the person chose Russian: still nothing to write.
        chosen = await users.onboard(TelegramUserData(4444, "Alice", "Liddell", "alice", "en"))
        assert chosen.language == "ru" and writes == []
        renamed = await users.onboard(TelegramUserData(4444, "Alice", None, "alice", "en"))
        assert renamed.last_name is None and len(writes) == 1  # a change is written
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", note)
