from __future__ import annotations

import asyncio

import pytest

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
