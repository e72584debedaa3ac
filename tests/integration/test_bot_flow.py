"""The bot's cross-cutting behaviour, end to end through the sandbox: /cancel, flows that
expire after an hour of silence, state that survives a restart, blocked people, per-person
throttling and the fallback for what nobody understood.

A tiny test-only flow (/quiz asks a name and notes every answer) stands in for checkout:
it is tried right after /cancel, before the feature routers and the fallback."""

from __future__ import annotations

import dataclasses
import io
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from html import escape
from typing import Any

import pytest
from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Message
from PIL import Image
from sqlalchemy import select

from tests.integration.test_bot_webhook import bot_settings, shop
from tests.support import databases
from tests.support.fakes import FrozenClock
from tests.support.sandbox import RunningSandbox
from tgshop.config import Settings
from tgshop.db.engine import Database
from tgshop.db.models import AuditLog
from tgshop.sandbox.client import SandboxUser
from tgshop.services.users import TelegramUserData, UserService

pytestmark = pytest.mark.timeout(120)

MAIN_MENU = ["Catalog", "Cart", "My orders", "Help", "Language"]
EXPIRED = "That took a while, so I've put it away — please start again."
NOT_UNDERSTOOD = "I didn't understand that — use the menu below."
TOO_FAST = "You're going too fast — wait a few seconds, please."


class Quiz(StatesGroup):
    name = State()


def quiz_router() -> Router:
    router = Router(name="quiz")

    @router.message(Command("quiz"))
    async def begin(message: Message, state: FSMContext) -> None:
        await state.set_state(Quiz.name)
        await message.answer("What is your name?")

    @router.message(Quiz.name, F.text, ~F.text.startswith("/"))
    async def noted(message: Message, state: FSMContext) -> None:
        await state.update_data(answers=(await state.get_data()).get("answers", 0) + 1)
        await message.answer(f"Noted: {escape(message.text or '', quote=False)}")

    return router


def redis_or_not(with_redis: bool) -> dict[str, Any]:
    """Settings sections for Redis with keys of this test's own (tests share one Redis)."""
    if not with_redis:
        return {}
    return {"redis": {"url": databases.redis_url(), "key_prefix": f"test-{uuid.uuid4().hex}"}}


async def need_redis(with_redis: bool) -> None:
    if with_redis and (reason := await databases.redis_unavailable_reason()):
        if databases.in_ci():
            pytest.fail(reason)
        pytest.skip(reason)


@asynccontextmanager
async def quiz_shop(
    sandbox: RunningSandbox, settings: Settings, db: Database, clock: FrozenClock
) -> AsyncIterator[str]:
    async with shop(sandbox, settings, db, clock=clock, routers=[quiz_router()]) as url:
        yield url


def bot_texts(history: list[dict[str, Any]]) -> list[str]:
    return [m.get("text") or "" for m in history if m["from"]["is_bot"]]


async def silently(user: SandboxUser, text: str) -> None:
    """Send something the bot should not answer (checked later against the history)."""
    reply = await user.send(text, wait=0.5, expect=False)
    assert reply.messages == [], f"{text!r} was answered: {reply.text!r}"


# ---------------------------------------------------------------------------- /cancel


async def test_cancel_leaves_a_flow_and_says_so_when_there_is_none(
    sandbox: RunningSandbox,
    make_settings: Callable[..., Settings],
    db: Database,
    db_url: str,
    clock: FrozenClock,
) -> None:
    settings = bot_settings(make_settings, sandbox, db_url)
    async with quiz_shop(sandbox, settings, db, clock):
        alice = await sandbox.client.user("Alice")
        assert (await alice.send("/quiz")).text == "What is your name?"
        assert (await alice.send("Alice")).text == "Noted: Alice"
        assert (await alice.send("/cancel")).text == "Cancelled."
        assert await alice.reply_keyboard() == MAIN_MENU
        assert (await alice.send("Alice")).text == NOT_UNDERSTOOD  # the flow is over
        assert (await alice.send("/cancel")).text == "There is nothing to cancel."
        boris = await sandbox.client.user("Борис", language_code="ru")
        await boris.send("/quiz")
        assert (await boris.send("/cancel")).text == "Отменено."
        assert (await boris.send("/cancel")).text == "Отменять нечего."
        commands = sandbox.sandbox.bot(sandbox.token).commands
        assert commands[("default", "ru")][-1] == {
            "command": "cancel",
            "description": "Прервать текущее действие",
        }


# -------------------------------------------------------------------------- idle expiry


@pytest.mark.parametrize("with_redis", [False, True], ids=["database", "redis"])
async def test_a_flow_silent_for_an_hour_is_put_away(
    sandbox: RunningSandbox,
    make_settings: Callable[..., Settings],
    db: Database,
    db_url: str,
    clock: FrozenClock,
    with_redis: bool,
) -> None:
    await need_redis(with_redis)
    settings = bot_settings(make_settings, sandbox, db_url, **redis_or_not(with_redis))
    async with quiz_shop(sandbox, settings, db, clock):
        alice = await sandbox.client.user("Alice")
        await alice.send("/language")  # a button to press later
        await alice.send("/quiz")
        clock.advance(minutes=59)
        assert (await alice.send("Eve")).text == "Noted: Eve"
        clock.advance(minutes=59)  # 118 minutes since /quiz, 59 since the last answer
        assert (await alice.send("Bob")).text == "Noted: Bob"
        clock.advance(minutes=61)
        expired = await alice.send("Carol")
        assert expired.text == EXPIRED
        assert await alice.reply_keyboard() == MAIN_MENU
        assert (await alice.send("Dave")).text == NOT_UNDERSTOOD  # state and data are gone

        await alice.send("/quiz")  # a button press after the silence ends the flow too
        clock.advance(minutes=61)
        pressed = await alice.tap("✓ English")
        assert pressed.answer is not None and not pressed.answer["text"]
        assert pressed.text == EXPIRED  # and the language was not switched
        assert (await alice.send("Erin")).text == NOT_UNDERSTOOD

        bob = await sandbox.client.user("Bob")  # someone else's silence is not Alice's
        await bob.send("/quiz")
        clock.advance(minutes=30)
        await alice.send("/quiz")
        clock.advance(minutes=31)
        assert (await alice.send("Fay")).text == "Noted: Fay"
        assert (await bob.send("Gus")).text == EXPIRED


@pytest.mark.parametrize("with_redis", [False, True], ids=["database", "redis"])
async def test_a_flow_survives_a_restart(
    sandbox: RunningSandbox,
    make_settings: Callable[..., Settings],
    db: Database,
    db_url: str,
    clock: FrozenClock,
    with_redis: bool,
) -> None:
    await need_redis(with_redis)
    settings = bot_settings(make_settings, sandbox, db_url, **redis_or_not(with_redis))
    async with quiz_shop(sandbox, settings, db, clock):
        alice = await sandbox.client.user("Alice")
        await alice.send("/quiz")
        assert (await alice.send("Eve")).text == "Noted: Eve"
    clock.advance(minutes=10)
    async with quiz_shop(sandbox, settings, db, clock):  # a new container and dispatcher
        assert (await alice.send("Bob")).text == "Noted: Bob"
        assert (await alice.send("/cancel")).text == "Cancelled."


# ---------------------------------------------------------------------------- blocking


async def test_a_blocked_person_gets_one_notice_and_nothing_else(
    sandbox: RunningSandbox,
    make_settings: Callable[..., Settings],
    db: Database,
    db_url: str,
    clock: FrozenClock,
) -> None:
    settings = bot_settings(make_settings, sandbox, db_url)
    shop_settings = settings.shop.model_copy(update={"support_contact": "<b>@help</b> & </a>"})
    # Staff block her from "another process" (this test's own service): without the
    # shop's memory of recent customers, the very next update must see it.
    telegram = settings.telegram.model_copy(update={"customer_cache_seconds": 0})
    settings = dataclasses.replace(settings, shop=shop_settings, telegram=telegram)
    users = UserService(db, clock)
    async with quiz_shop(sandbox, settings, db, clock):
        alice = await sandbox.client.user("Alice")
        await alice.send("/start")
        await alice.send("/language")
        await alice.send("/quiz")  # blocked in the middle of a flow
        me = await users.onboard(TelegramUserData(alice.id, "Alice"))
        staff = await users.onboard(TelegramUserData(alice.id + 1_000, "Staff"))
        await users.set_blocked(me.id, True, "chargebacks", actor_user_id=staff.id)

        notice = await alice.send("Eve")
        assert notice.text == (
            "Sorry, this shop can't serve you. If you think this is a mistake, "
            "contact <b>@help</b> & </a>."  # the contact is shown as typed, not parsed
        )
        assert "chargebacks" not in notice.text  # the reason is for staff
        assert await alice.reply_keyboard() == []  # the menu is taken away
        await silently(alice, "/start")
        await silently(alice, "/cancel")
        pressed = await alice.tap("✓ English", wait=0.5, expect=False)
        assert pressed.answer is not None and not pressed.answer["text"]
        assert pressed.messages == []
        await silently(alice, "hello?")
        # Answered, so every earlier update of this chat has been handled (they go in order).
        last = await alice.tap("✓ English", wait=0.5, expect=False)
        assert last.answer is not None and not last.answer["text"]
        texts = bot_texts(await alice.history())
        assert texts.count(notice.text) == 1
        assert texts[-1] == notice.text  # nothing after the notice

        await users.set_blocked(me.id, False, actor_user_id=staff.id)
        assert (await alice.send("/start")).text.startswith("Hello, Alice!")
        await users.set_blocked(me.id, True)  # a new block is announced once again
        assert (await alice.send("/start")).text.startswith("Sorry, this shop can't serve you.")
        await silently(alice, "/start")

    async with db.read() as session:
        audit = (
            await session.execute(
                select(
                    AuditLog.action, AuditLog.entity_id, AuditLog.actor_user_id, AuditLog.data
                ).order_by(AuditLog.id)
            )
        ).all()
    assert [tuple(row) for row in audit] == [
        ("user.blocked", str(me.id), staff.id, {"reason": "chargebacks"}),
        ("user.unblocked", str(me.id), staff.id, {}),
        ("user.blocked", str(me.id), None, {}),
    ]


# -------------------------------------------------------------------------- throttling


@pytest.mark.parametrize("with_redis", [False, True], ids=["memory", "redis"])
async def test_too_many_updates_get_one_slow_down_then_silence(
    sandbox: RunningSandbox,
    make_settings: Callable[..., Settings],
    db: Database,
    db_url: str,
    clock: FrozenClock,
    with_redis: bool,
) -> None:
    await need_redis(with_redis)
    settings = bot_settings(make_settings, sandbox, db_url, **redis_or_not(with_redis))
    # An hour's window: the test cannot outlive it, whatever the machine's speed.
    telegram = settings.telegram.model_copy(update={"bot_rate_limit": "3/hour"})
    settings = dataclasses.replace(settings, telegram=telegram)
    async with quiz_shop(sandbox, settings, db, clock):
        alice = await sandbox.client.user("Alice")
        assert (await alice.send("/language")).text == "Choose your language:"
        assert (await alice.send("/help")).text
        assert (await alice.send("/help")).text
        assert (await alice.send("/help")).text == TOO_FAST
        await silently(alice, "/help")
        pressed = await alice.tap("✓ English", wait=0.5, expect=False)
        assert pressed.answer is not None and not pressed.answer["text"]  # silence
        assert pressed.messages == []
        assert bot_texts(await alice.history()).count(TOO_FAST) == 1

        bob = await sandbox.client.user("Bob")  # a limit per person
        assert (await bob.send("/help")).text.startswith("This is Tea & <Co>.")
        await bob.send("/language")
        await bob.tap("✓ English")
        # The first refused press hears why.
        too_fast = await bob.tap("✓ English", wait=0.5, expect=False)
        assert too_fast.answer is not None and too_fast.answer["text"] == TOO_FAST
        quiet = await bob.tap("✓ English", wait=0.5, expect=False)
        assert quiet.answer is not None and not quiet.answer["text"]
        assert TOO_FAST not in bot_texts(await bob.history())  # said in the answer only


# --------------------------------------------------------------------------- fallback


async def test_what_nobody_understood_gets_the_menu_or_an_alert(
    sandbox: RunningSandbox,
    make_settings: Callable[..., Settings],
    db: Database,
    db_url: str,
    clock: FrozenClock,
) -> None:
    settings = bot_settings(make_settings, sandbox, db_url)
    async with quiz_shop(sandbox, settings, db, clock):
        alice = await sandbox.client.user("Alice")
        reply = await alice.send("what's <b>up</b>?")
        assert reply.text == NOT_UNDERSTOOD
        assert await alice.reply_keyboard() == MAIN_MENU
        image = io.BytesIO()
        Image.new("RGB", (8, 8), "teal").save(image, format="PNG")
        photo = await alice.send_photo(image.getvalue(), caption="look")
        assert photo.text == NOT_UNDERSTOOD
        russian = await sandbox.client.user("Вера", language_code="ru")
        assert (await russian.send("привет")).text.startswith("Я не понял")

        bot = sandbox.bot()  # a keyboard from an older version of the bot
        try:
            await bot.send_message(
                alice.id,
                "Old menu",
                reply_markup=InlineKeyboardMarkup(
                    inline_keyboard=[
                        [InlineKeyboardButton(text="Old button", callback_data="v0:menu:7")]
                    ]
                ),
            )
        finally:
            await bot.session.close()
        pressed = await alice.tap("Old button", wait=0.5, expect=False)
        assert pressed.answer == {
            "text": "This button is out of date.",
            "show_alert": True,
            "url": None,
        }

        group = await sandbox.client.group("Friends", [alice])
        await alice.send("hello everyone", chat_id=group["id"], wait=0.5, expect=False)
        cancel = await alice.send("/cancel", chat_id=group["id"])  # after "hello", in order
        assert cancel.text == "There is nothing to cancel."
        chat = await sandbox.client.chat(group["id"])
        assert bot_texts(chat["messages"]) == [cancel.text]  # "hello" was left alone
