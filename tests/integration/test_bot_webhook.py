"""The customer bot behind POST /telegram/webhook, driven through the sandbox over HTTP:
secret checked in constant time, bad bodies refused, re-delivered updates taken once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from aiogram import Router

from tests.support import databases
from tests.support.fakes import FrozenClock
from tests.support.sandbox import RunningSandbox
from tgshop.api.app import create_http_app
from tgshop.api.telegram_webhook import WEBHOOK_PATH
from tgshop.app import build_container
from tgshop.bot.factory import register_commands
from tgshop.config import Settings
from tgshop.db.engine import Database
from tgshop.runtime import build_telegram_front
from tgshop.sandbox.runner import serving

pytestmark = pytest.mark.timeout(60)
SECRET = "webhook-secret-for-tests-0123"


@asynccontextmanager
async def shop(
    sandbox: RunningSandbox,
    settings: Settings,
    db: Database,
    *,
    clock: FrozenClock | None = None,
    routers: Sequence[Router] = (),
) -> AsyncIterator[str]:
    """The shop's bot on a webhook the sandbox delivers to. ``routers`` are test-only
    routers tried before every feature router (they ride in the first, /cancel, router)."""
    container = build_container(settings, db=db, clock=clock or FrozenClock())
    front = build_telegram_front(container)
    assert front is not None
    first = front.dispatcher.sub_routers[0]
    for router in routers:
        first.include_router(router)
    app = create_http_app(container, routers=[front.router])
    try:
        async with serving(app) as url:
            assert await front.register_webhook(f"{url}{WEBHOOK_PATH}", SECRET)
            await register_commands(front.bot, container.translator)
            yield url
    finally:
        await front.bot.session.close()
        for provider in container.providers.values():
            await provider.close()
        if container.redis is not None:
            await container.redis.aclose()


def bot_settings(
    make_settings: Callable[..., Settings], sandbox: RunningSandbox, db_url: str, **redis: Any
) -> Settings:
    return make_settings(
        database={"url": db_url},
        telegram={
            "bot_token": sandbox.token,
            "telegram_api_url": sandbox.url,
            "webhook_secret": SECRET,
        },
        # Bot tests change the catalog and carts behind the shop's back (their own services,
        # unannounced) and expect the next press to see it: no catalog or cart memory here
        # (tests/integration/test_catalog_cache.py and test_cart_memory.py have them on).
        shop={"name": "Tea & <Co>", "catalog_cache_seconds": 0, "cart_cache_seconds": 0},
        **redis,
    )


async def test_start_menu_help_and_language(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    async with shop(sandbox, bot_settings(make_settings, sandbox, db_url), db):
        hostile = await sandbox.client.user("<b>Eve</b> & </a>", language_code="ru-RU")
        welcome = await hostile.send("/start")
        assert welcome.text.startswith("Здравствуйте, <b>Eve</b> & </a>!")  # shown, not parsed
        assert "Tea & <Co>" in welcome.text
        assert await hostile.reply_keyboard() == [
            "Каталог",
            "Корзина",
            "Мои заказы",
            "Помощь",
            "Язык",
        ]
        picker = await hostile.tap("Язык")
        assert picker.text == "Выберите язык:"
        chosen = await hostile.tap("English")
        assert chosen.answer is not None and chosen.answer["text"] == "Language set: English."
        assert await hostile.reply_keyboard() == [
            "Catalog",
            "Cart",
            "My orders",
            "Help",
            "Language",
        ]
        again = await hostile.send("/start")  # the choice sticks, whatever Telegram reports
        assert again.text.startswith("Hello, <b>Eve</b> & </a>!")
        helped = await hostile.tap("Help")
        assert "Tea & <Co>" in helped.text
        assert (await hostile.send("/language")).text == "Choose your language:"
        commands = sandbox.sandbox.bot(sandbox.token).commands
        assert [c["command"] for c in commands[("default", "ru")]] == [
            "start",
            "help",
            "language",
            "balance",
            "refund",
            "cancel",
        ]
        assert commands[("default", "ru")][0]["description"] == "Главное меню"
        assert commands[("default", "ru")][4]["description"] == "Вернуть деньги за заказ"
        assert commands[("default", "")][1]["description"] == "How this shop works"


async def test_wrong_secret_and_bad_bodies_are_refused(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    async with (
        shop(sandbox, bot_settings(make_settings, sandbox, db_url), db) as url,
        httpx.AsyncClient() as http,
    ):
        update = {
            "update_id": 1,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 1, "type": "private"},
                "text": "hi",
            },
        }
        missing = await http.post(f"{url}{WEBHOOK_PATH}", json=update)
        wrong = await http.post(
            f"{url}{WEBHOOK_PATH}",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET + "x"},
        )
        garbage = await http.post(
            f"{url}{WEBHOOK_PATH}",
            content=b"{not json",
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        )
        not_update = await http.post(
            f"{url}{WEBHOOK_PATH}",
            json={"hello": "world"},
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        )
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.headers["content-type"] == "application/problem+json"
    assert "Secret-Token" in wrong.json()["detail"]
    assert (garbage.status_code, not_update.status_code) == (400, 400)


async def forget_updates_in_redis(bot_id: int) -> None:
    """Sandboxes number updates from 1; marks from an earlier run would read as re-deliveries."""
    from redis.asyncio import Redis

    client = Redis.from_url(databases.redis_url())
    try:
        async for key in client.scan_iter(f"tgshop:update:{bot_id}:*"):
            await client.delete(key)
    finally:
        await client.aclose()


@pytest.mark.parametrize("with_redis", [False, True], ids=["database", "redis"])
async def test_a_redelivered_update_is_taken_once(
    sandbox: RunningSandbox,
    make_settings: Callable[..., Settings],
    db: Database,
    db_url: str,
    with_redis: bool,
) -> None:
    redis: dict[str, Any] = {}
    if with_redis:
        if reason := await databases.redis_unavailable_reason():
            if databases.in_ci():
                pytest.fail(reason)
            pytest.skip(reason)
        redis = {"redis": {"url": databases.redis_url()}}
        await forget_updates_in_redis(int(sandbox.token.split(":")[0]))
    async with shop(sandbox, bot_settings(make_settings, sandbox, db_url, **redis), db) as url:
        alice = await sandbox.client.user("Alice")
        await alice.send("/start")
        update_id = 10_000_000 + alice.id  # unique per run, also in a shared Redis
        update = {
            "update_id": update_id,
            "message": {
                "message_id": 99,
                "date": 0,
                "text": "/start",
                "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
                "chat": {"id": alice.id, "type": "private", "first_name": "Alice"},
                "from": {"id": alice.id, "is_bot": False, "first_name": "Alice"},
            },
        }
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with httpx.AsyncClient() as http:
            for _ in range(3):
                assert (
                    await http.post(f"{url}{WEBHOOK_PATH}", json=update, headers=headers)
                ).status_code == 200
        bot_messages = [m for m in await alice.history() if m["from"]["is_bot"]]
        assert len(bot_messages) == 2  # the first /start, and the injected one once


async def test_blocking_the_bot_is_remembered(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    from sqlalchemy import select

    from tgshop.db.models import User

    async def blocked_at(telegram_id: int) -> object:
        async with db.read() as session:
            return (
                await session.execute(
                    select(User.bot_blocked_at).where(User.telegram_id == telegram_id)
                )
            ).scalar_one()

    async with shop(sandbox, bot_settings(make_settings, sandbox, db_url), db):
        alice = await sandbox.client.user("Alice")
        await alice.send("/start")
        await alice.block()
        for _ in range(100):
            if await blocked_at(alice.id) is not None:
                break
            await asyncio.sleep(0.05)
        assert await blocked_at(alice.id) is not None
        await alice.unblock()
        for _ in range(100):
            if await blocked_at(alice.id) is None:
                break
            await asyncio.sleep(0.05)
        assert await blocked_at(alice.id) is None


async def test_a_failing_handler_gets_an_error_id_to_the_person_and_the_staff(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    from aiogram import F, Router
    from aiogram.types import Message

    manager = await sandbox.client.user("Maria")
    group = await sandbox.client.group("Orders", [manager])
    settings = make_settings(
        database={"url": db_url},
        telegram={
            "bot_token": sandbox.token,
            "telegram_api_url": sandbox.url,
            "webhook_secret": SECRET,
            "manager_chat_id": group["id"],
        },
    )
    container = build_container(settings, db=db, clock=FrozenClock())
    front = build_telegram_front(container)
    assert front is not None
    broken = Router(name="broken")  # a handler with a bug, added the way a router is

    @broken.message(F.text == "boom")
    async def boom(message: Message) -> None:
        raise RuntimeError("kaboom <script>")

    front.dispatcher.sub_routers[0].include_router(broken)  # ahead of the fallback
    app = create_http_app(container, routers=[front.router])
    try:
        async with serving(app) as url:
            assert await front.register_webhook(f"{url}{WEBHOOK_PATH}", SECRET)
            alice = await sandbox.client.user("Alice")
            reply = await alice.send("boom")
            assert reply.text.startswith("Sorry, something went wrong on our side.")
            error_id = reply.messages[0]["entities"][0]
            code = reply.text[error_id["offset"] : error_id["offset"] + error_id["length"]]
            staff = (await sandbox.client.chat(group["id"], after_version=0, wait=5))["messages"]
            report = staff[-1]["text"]
            assert code in report and "message" in report
            assert "RuntimeError: kaboom <script>" in report  # escaped on the way, shown as text
    finally:
        await front.bot.session.close()
