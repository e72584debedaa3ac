"""A real aiogram bot against the sandbox, in polling and in webhook mode, and the webhook
delivery rules (secret header, retries, per-chat order, replies in the response)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiogram import Dispatcher, F, Router
from aiogram.filters import CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.sandbox import RunningSandbox
from tgshop.sandbox.runner import serving

pytestmark = pytest.mark.timeout(60)
SECRET = "hook-secret-0123456789"


def shop_router() -> Router:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        menu = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="Catalog", callback_data="catalog")]]
        )
        name = message.from_user.first_name if message.from_user else "friend"
        await message.answer(f"Welcome, <b>{name}</b>!", parse_mode="HTML", reply_markup=menu)

    @router.callback_query(F.data == "catalog")
    async def catalog(query: CallbackQuery) -> None:
        assert isinstance(query.message, Message)
        await query.message.edit_text("Catalog: Sencha, Matcha")
        await query.answer("Opened")

    @router.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(f"You said: {message.text}")

    return router


async def story(sandbox: RunningSandbox) -> None:
    alice = await sandbox.client.user("Alice")
    welcome = await alice.send("/start")
    assert welcome.text == "Welcome, Alice!"
    assert welcome.messages[0]["entities"][0]["type"] == "bold"
    opened = await alice.tap("Catalog")
    assert opened.answer is not None and opened.answer["text"] == "Opened"
    assert [m["text"] for m in opened.edited] == ["Catalog: Sencha, Matcha"]
    echoed = await alice.send("hello")
    assert echoed.text == "You said: hello"


async def test_a_bot_in_polling_mode(sandbox: RunningSandbox) -> None:
    bot = sandbox.bot()
    dispatcher = Dispatcher()
    dispatcher.include_router(shop_router())
    polling = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, polling_timeout=1)
    )
    try:
        await story(sandbox)
    finally:
        await dispatcher.stop_polling()
        await polling
        await bot.session.close()


@contextlib.asynccontextmanager
async def webhook_bot(sandbox: RunningSandbox) -> AsyncIterator[list[dict[str, Any]]]:
    bot = sandbox.bot()
    dispatcher = Dispatcher()
    dispatcher.include_router(shop_router())
    received: list[dict[str, Any]] = []

    async def hook(request: Request) -> Response:
        if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != SECRET:
            return Response(status_code=401)
        update = await request.json()
        received.append(update)
        await dispatcher.feed_webhook_update(bot, update)
        return Response(status_code=200)

    async with serving(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as url:
        await bot.set_webhook(f"{url}/hook", secret_token=SECRET)
        try:
            yield received
        finally:
            await bot.delete_webhook()
            await bot.session.close()


async def test_a_bot_in_webhook_mode(sandbox: RunningSandbox) -> None:
    async with webhook_bot(sandbox) as received:
        await story(sandbox)
    kinds = [next(k for k in u if k != "update_id") for u in received]
    assert kinds == ["message", "callback_query", "message"]


async def test_webhook_retries_until_2xx_and_reports_errors(sandbox: RunningSandbox) -> None:
    attempts: list[int] = []

    async def flaky(request: Request) -> Response:
        update = await request.json()
        attempts.append(update["update_id"])
        return Response(status_code=500 if len(attempts) < 3 else 200)

    bot = sandbox.bot()
    try:
        async with serving(Starlette(routes=[Route("/hook", flaky, methods=["POST"])])) as url:
            await bot.set_webhook(f"{url}/hook")
            alice = await sandbox.client.user("Alice")
            await alice.send("hi", expect=False, wait=0.1)
            for _ in range(100):
                if len(attempts) >= 3:
                    break
                await asyncio.sleep(0.05)
            info = await bot.get_webhook_info()
            assert attempts == [attempts[0]] * 3  # the same update, three times
            assert info.last_error_message is not None and "500" in info.last_error_message
            assert info.pending_update_count == 0
            await bot.delete_webhook()
    finally:
        await bot.session.close()


async def test_webhook_keeps_order_per_chat_and_runs_replies_in_the_response(
    sandbox: RunningSandbox,
) -> None:
    seen: list[str] = []

    async def hook(request: Request) -> Response:
        update = await request.json()
        text = update["message"]["text"]
        seen.append(text)
        await asyncio.sleep(0.02)  # slow bot: later updates of this chat must wait
        if text == "reply-in-response":
            return JSONResponse(
                {
                    "method": "sendMessage",
                    "chat_id": update["message"]["chat"]["id"],
                    "text": "answered in the webhook response",
                }
            )
        return Response(status_code=200)

    bot = sandbox.bot()
    try:
        async with serving(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as url:
            await bot.set_webhook(f"{url}/hook", max_connections=10)
            alice = await sandbox.client.user("Alice")
            for i in range(6):
                await alice.send(f"m{i}", expect=False, wait=0)
            reply = await alice.send("reply-in-response")
            assert reply.text == "answered in the webhook response"
            assert seen == [f"m{i}" for i in range(6)] + ["reply-in-response"]
            await bot.delete_webhook()
    finally:
        await bot.session.close()
