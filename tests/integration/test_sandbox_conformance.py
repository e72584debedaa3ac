"""Conformance: everything the sandbox answers parses as aiogram's own Bot API types.

Every method in ``tgshop.sandbox.bot_api.METHODS`` is called over real HTTP (JSON bodies,
urlencoded and multipart forms, query strings) with valid parameters, and its ``result`` is
validated against ``aiogram.methods.<Name>.__returning__``. Every update kind the sandbox
produces is validated as ``aiogram.types.Update``, and the error envelope is checked by
aiogram's own ``check_response`` for each status a bot meets.

aiogram's models accept unknown keys silently (``extra="allow"``), so validation alone
would not catch a typo such as ``"from_user"`` for ``"from"`` (pydantic would even accept
the field *name*). ``shape_problems`` therefore walks the JSON next to the validated model and
reports every key that is not the Bot API name (alias) of a field, recursively.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import AsyncIterator
from datetime import datetime
from enum import Enum
from typing import Any

import httpx
import pytest
from aiogram import methods as aiogram_methods
from aiogram.enums import ContentType
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.methods.base import TelegramMethod
from aiogram.types import Message, ResponseParameters, Update
from aiogram.types.base import TelegramObject
from PIL import Image
from pydantic import TypeAdapter
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.sandbox import RunningSandbox
from tgshop.sandbox.bot_api import METHODS
from tgshop.sandbox.core import UPDATE_KINDS
from tgshop.sandbox.runner import serving

pytestmark = pytest.mark.timeout(60)


def aiogram_method(name: str) -> type[TelegramMethod[Any]]:
    """aiogram's class for a Bot API method name (any case), e.g. getme -> GetMe."""
    for attr in dir(aiogram_methods):
        cls = getattr(aiogram_methods, attr)
        if (
            isinstance(cls, type)
            and issubclass(cls, TelegramMethod)
            and getattr(cls, "__api_method__", "").lower() == name.lower()
        ):
            return cls
    raise LookupError(f"aiogram knows no Bot API method {name!r}")


def shape_problems(data: Any, value: Any, path: str) -> list[str]:
    """Where our JSON (``data``) differs from the model aiogram built from it (``value``):
    keys that are not the Bot API name (alias) of a field, and scalars that only passed by
    pydantic's lax coercion ("123" for 123, 1 for true); recursively through objects and
    arrays."""
    problems: list[str] = []
    if isinstance(value, TelegramObject):
        if not isinstance(data, dict):
            return [f"{path}: expected an object, got {data!r}"]
        fields = type(value).model_fields
        # Only the alias counts where there is one: "from_user" must not pass for "from".
        by_key = {(info.alias or name): name for name, info in fields.items()}
        for key, item in data.items():
            name = by_key.get(key)
            if name is None:
                problems.append(f"{path}.{key}: not a field of {type(value).__name__}")
            else:
                problems += shape_problems(item, getattr(value, name), f"{path}.{key}")
    elif isinstance(value, list):
        if not isinstance(data, list) or len(value) != len(data):
            return [f"{path}: expected an array like {value!r}, got {data!r}"]
        for index, (item, parsed) in enumerate(zip(data, value, strict=True)):
            problems += shape_problems(item, parsed, f"{path}[{index}]")
    elif not _same_json_type(data, value):
        problems.append(f"{path}: {data!r} only passed as {type(value).__name__} by coercion")
    return problems


def _same_json_type(data: Any, value: Any) -> bool:
    if value is None or isinstance(value, (dict, Enum)):
        return True  # free-form objects; enums are checked by validation itself
    if isinstance(value, bool):
        return isinstance(data, bool)
    if isinstance(value, (int, datetime)):  # Bot API dates are unix times
        return isinstance(data, int) and not isinstance(data, bool)
    if isinstance(value, float):
        return isinstance(data, (int, float)) and not isinstance(data, bool)
    if isinstance(value, str):
        return isinstance(data, str)
    return True


def conform(expected: Any, data: Any, path: str) -> Any:
    """Validate ``data`` as ``expected`` the way aiogram does, then insist on known keys
    and on exact JSON types (see ``shape_problems``)."""
    parsed = TypeAdapter(expected).validate_python(data)
    problems = shape_problems(data, parsed, path)
    assert not problems, "\n".join(problems)
    return parsed


def png(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(buffer, "PNG")
    return buffer.getvalue()


class BotApi:
    """Raw Bot API calls over HTTP, each result validated; remembers what it covered."""

    def __init__(self, http: httpx.AsyncClient, sandbox: RunningSandbox) -> None:
        self.http = http
        self.base = f"{sandbox.url}/bot{sandbox.token}"
        self.covered: dict[str, int] = {}
        self.updates: list[dict[str, Any]] = []

    async def __call__(
        self,
        name: str,
        body: dict[str, Any] | None = None,
        *,
        form: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        query: dict[str, str] | None = None,
    ) -> Any:
        method = aiogram_method(name)
        response = await self.http.request(
            "GET" if query is not None else "POST",
            f"{self.base}/{method.__api_method__}",
            json=body,
            data=form,
            files=files,
            params=query,
        )
        envelope = response.json()
        assert response.status_code == 200, envelope
        assert response.headers["content-type"].startswith("application/json")
        assert set(envelope) == {"ok", "result"} and envelope["ok"] is True, envelope
        conform(method.__returning__, envelope["result"], method.__api_method__)
        self.covered[name.lower()] = self.covered.get(name.lower(), 0) + 1
        return envelope["result"]

    async def poll(self, *, wait_for: int = 1, seconds: int = 5) -> list[dict[str, Any]]:
        """getUpdates until ``wait_for`` updates arrived, confirming them."""
        got: list[dict[str, Any]] = []
        offset = self.updates[-1]["update_id"] + 1 if self.updates else 0
        while len(got) < wait_for:
            batch = await self("getUpdates", {"offset": offset, "timeout": seconds})
            assert batch, f"expected {wait_for} updates, got {len(got)}"
            got += batch
            offset = batch[-1]["update_id"] + 1
        await self("getUpdates", {"offset": offset, "timeout": 0})
        self.updates += got
        return got


async def control(sandbox: RunningSandbox, path: str, body: dict[str, Any] | None = None) -> Any:
    return await sandbox.client.request("POST", path, body or {})


def check_update(update: dict[str, Any]) -> Update:
    parsed: Update = conform(Update, update, f"update {update.get('update_id')}")
    kinds = set(update) - {"update_id"}
    assert len(kinds) == 1 and kinds <= set(UPDATE_KINDS), update
    return parsed


@pytest.fixture
async def api(sandbox: RunningSandbox) -> AsyncIterator[BotApi]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield BotApi(http, sandbox)


def test_every_sandbox_method_is_a_bot_api_method_aiogram_knows() -> None:
    for name in METHODS:
        assert aiogram_method(name).__returning__ is not None


async def test_every_method_answers_a_valid_bot_api_object(
    sandbox: RunningSandbox, api: BotApi
) -> None:
    me = await api("getMe", query={})
    assert me["is_bot"] is True
    alice = await control(sandbox, "/users", {"first_name": "Alice", "username": "alice"})
    bob = await control(sandbox, "/users", {"first_name": "Bob", "last_name": "Stone"})
    await control(sandbox, f"/users/{alice['id']}/send", {"text": "/start ref_1 @shop #tea"})
    await control(sandbox, f"/users/{bob['id']}/send", {"text": "hi https://example.com"})
    group = await control(
        sandbox, "/groups", {"title": "Managers", "member_ids": [alice["id"], bob["id"]]}
    )
    await control(sandbox, f"/users/{bob['id']}/send", {"text": "in group", "chat_id": group["id"]})
    received = await api.poll(wait_for=3)
    assert [u["message"]["chat"]["type"] for u in received] == ["private", "private", "supergroup"]

    # Commands and the menu button (a form, with the scope JSON-serialized as Telegram wants).
    commands = [{"command": "start", "description": "Open the shop"}]
    scope = json.dumps({"type": "chat", "chat_id": alice["id"]})
    assert await api("setMyCommands", {"commands": commands}) is True
    assert (
        await api("setMyCommands", form={"commands": json.dumps(commands), "scope": scope}) is True
    )
    assert await api("getMyCommands", form={"scope": scope}) == commands
    assert await api("deleteMyCommands", form={"scope": scope}) is True
    assert await api("getMyCommands", {}) == commands
    web_app_button = {"type": "web_app", "text": "Shop", "web_app": {"url": "https://x.test/app"}}
    assert await api("setChatMenuButton", {"menu_button": web_app_button}) is True
    assert await api("getChatMenuButton", {}) == web_app_button
    assert await api("getChatMenuButton", {"chat_id": alice["id"]}) == web_app_button

    # Messages: HTML, every inline button kind tgshop uses, a reply keyboard, a group.
    keyboard = {
        "inline_keyboard": [
            [{"text": "Catalog", "callback_data": "catalog"}],
            [{"text": "Site", "url": "https://example.com"}],
            [{"text": "Open", "web_app": {"url": "https://x.test/app"}}],
        ]
    }
    menu = await api(
        "sendMessage",
        {
            "chat_id": alice["id"],
            "text": '<b>Tea</b> &amp; <a href="https://example.com">more</a> <code>x</code>',
            "parse_mode": "HTML",
            "reply_markup": keyboard,
        },
    )
    assert menu["reply_markup"] == keyboard
    reply_keyboard = {"keyboard": [[{"text": "Share", "request_contact": True}]]}
    await api(
        "sendMessage",
        form={
            "chat_id": str(alice["id"]),
            "text": "Share your phone",
            "reply_markup": json.dumps(reply_keyboard),
        },
    )
    await api("sendMessage", {"chat_id": group["id"], "text": "New order #1"})
    await api("sendChatAction", {"chat_id": alice["id"], "action": "typing"})

    # Files: an upload (multipart), a URL, a file_id seen before; a document; an album.
    photo = await api(
        "sendPhoto",
        form={"chat_id": str(alice["id"]), "caption": "<i>Sencha</i>", "parse_mode": "HTML"},
        files={"photo": ("sencha.png", png(), "image/png")},
    )
    file_id = photo["photo"][-1]["file_id"]
    await api("sendPhoto", {"chat_id": alice["id"], "photo": "https://x.test/matcha.jpg"})
    await api("sendPhoto", {"chat_id": alice["id"], "photo": file_id, "caption": "again"})
    assert (await api("getFile", {"file_id": file_id}))["file_size"] == len(png())
    await api(
        "sendDocument",
        form={"chat_id": str(alice["id"]), "caption": "Your invoice"},
        files={"document": ("invoice.pdf", b"%PDF-1.4 sandbox", "application/pdf")},
    )
    album = await api(
        "sendMediaGroup",
        form={
            "chat_id": str(alice["id"]),
            "media": json.dumps(
                [
                    {"type": "photo", "media": "attach://first", "caption": "one"},
                    {"type": "photo", "media": "https://x.test/two.jpg"},
                ]
            ),
        },
        files={"first": ("first.png", png(32, 32), "image/png")},
    )
    assert len({m["media_group_id"] for m in album}) == 1

    # Edits, then a person presses a button of the edited message (edited content in an
    # update), and the bot answers the callback query.
    edited = await api(
        "editMessageText",
        {
            "chat_id": alice["id"],
            "message_id": menu["message_id"],
            "text": "<b>Catalog</b>",
            "parse_mode": "HTML",
            "reply_markup": keyboard,
        },
    )
    assert "edit_date" in edited
    await api(
        "editMessageCaption",
        {"chat_id": alice["id"], "message_id": photo["message_id"], "caption": "Sencha 50 g"},
    )
    await api(
        "editMessageReplyMarkup",
        {
            "chat_id": alice["id"],
            "message_id": photo["message_id"],
            "reply_markup": {"inline_keyboard": [[{"text": "Buy", "callback_data": "buy:1"}]]},
        },
    )
    press = asyncio.create_task(
        control(
            sandbox,
            f"/users/{alice['id']}/press",
            {"message_id": menu["message_id"], "button": "Catalog", "wait": 10},
        )
    )
    (callback,) = await api.poll()
    assert callback["callback_query"]["message"]["edit_date"] == edited["edit_date"]
    assert await api(
        "answerCallbackQuery",
        {"callback_query_id": callback["callback_query"]["id"], "text": "Opened"},
    )
    assert (await press)["answered"] is True

    # Payments: a Stars invoice paid (pre-checkout, successful_payment) and refunded; a
    # provider invoice; an invoice link.
    invoice = await api(
        "sendInvoice",
        {
            "chat_id": alice["id"],
            "title": "Sencha",
            "description": "Green tea, 50 g",
            "payload": "order:1",
            "currency": "XTR",
            "prices": [{"label": "Sencha", "amount": 150}],
        },
    )
    await api(
        "sendInvoice",
        form={
            "chat_id": str(bob["id"]),
            "title": "Matcha",
            "description": "Matcha, 30 g",
            "payload": "order:2",
            "provider_token": "provider:TEST",
            "currency": "USD",
            "prices": json.dumps([{"label": "Matcha", "amount": 1200}]),
        },
    )
    link = await api(
        "createInvoiceLink",
        {
            "title": "Gift card",
            "description": "Any tea",
            "payload": "gift:1",
            "currency": "XTR",
            "prices": [{"label": "Gift", "amount": 500}],
        },
    )
    assert link.startswith("https://t.me/$")
    pay = asyncio.create_task(
        control(sandbox, f"/users/{alice['id']}/pay", {"message_id": invoice["message_id"]})
    )
    (pre_checkout,) = await api.poll()
    assert await api(
        "answerPreCheckoutQuery",
        {"pre_checkout_query_id": pre_checkout["pre_checkout_query"]["id"], "ok": True},
    )
    paid = await pay
    assert paid["status"] == "paid"
    (payment,) = await api.poll()
    assert (
        payment["message"]["successful_payment"]["telegram_payment_charge_id"]
        == (paid["charge_id"])
    )
    assert await api(
        "refundStarPayment",
        {"user_id": alice["id"], "telegram_payment_charge_id": paid["charge_id"]},
    )
    transactions = await api("getStarTransactions", form={"offset": "0", "limit": "10"})
    assert [t["id"] for t in transactions["transactions"]] == [paid["charge_id"]] * 2

    # Chats and members.
    await api("getChat", {"chat_id": alice["id"]})
    await api("getChat", {"chat_id": group["id"]})
    bot_member = await api("getChatMember", {"chat_id": group["id"], "user_id": me["id"]})
    assert bot_member["status"] == "administrator"
    await api("getChatMember", {"chat_id": group["id"], "user_id": alice["id"]})
    await api("getChatMember", {"chat_id": alice["id"], "user_id": alice["id"]})

    # Deleting.
    assert await api("deleteMessage", {"chat_id": alice["id"], "message_id": photo["message_id"]})

    # Webhook: set it, see an update delivered to it, read the info, remove it.
    delivered: list[dict[str, Any]] = []

    async def receive(request: Request) -> Response:
        delivered.append(await request.json())
        return Response(status_code=200)

    async with serving(Starlette(routes=[Route("/hook", receive, methods=["POST"])])) as hook:
        assert await api(
            "setWebhook",
            {"url": f"{hook}/hook", "secret_token": "s3cret", "max_connections": 5},
        )
        await control(sandbox, f"/users/{bob['id']}/send", {"text": "via webhook"})
        for _ in range(200):
            if delivered:
                break
            await asyncio.sleep(0.01)
        info = await api("getWebhookInfo", {})
        assert info["url"] == f"{hook}/hook" and info["max_connections"] == 5
        assert await api("deleteWebhook", {"drop_pending_updates": True})
    assert [u["message"]["text"] for u in delivered] == ["via webhook"]
    check_update(delivered[0])
    assert (await api("getWebhookInfo", {}))["url"] == ""

    assert set(api.covered) == set(METHODS), (
        "methods without a conformance case: "
        f"{sorted(set(METHODS) - set(api.covered))}; unknown: "
        f"{sorted(set(api.covered) - set(METHODS))}"
    )
    for update in api.updates:
        check_update(update)

    # Everything stored in every chat (what the control API and the page show) is a Message
    # too: refunds, albums, documents, invoices, edits.
    for chat in await sandbox.client.request("GET", "/chats"):
        state = await sandbox.client.request("GET", f"/chats/{chat['id']}")
        for stored in state["messages"]:
            conform(Message, stored, f"chat {chat['id']} message {stored['message_id']}")


async def test_every_update_kind_parses_as_an_aiogram_update(
    sandbox: RunningSandbox, api: BotApi
) -> None:
    alice = await control(sandbox, "/users", {"first_name": "Alice", "last_name": "Liddell"})
    user = f"/users/{alice['id']}"
    start = await control(sandbox, f"{user}/send", {"text": "/start"})
    await control(sandbox, f"{user}/edit", {"message_id": start["message_id"], "text": "/help"})
    await control(sandbox, f"{user}/contact", {"phone_number": "+15550001"})
    await control(sandbox, f"{user}/location", {"latitude": 51.5, "longitude": -0.12})
    await control(
        sandbox, f"{user}/photo", {"data_base64": base64.b64encode(png()).decode(), "caption": "x"}
    )
    message = await api(
        "sendMessage",
        {
            "chat_id": alice["id"],
            "text": "Menu",
            "reply_markup": {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]},
        },
    )
    await api("editMessageText", {**message_ref(alice, message), "text": "Menu (edited)"})
    await api(
        "editMessageReplyMarkup",
        {
            **message_ref(alice, message),
            "reply_markup": {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]},
        },
    )
    press = asyncio.create_task(
        control(sandbox, f"{user}/press", {"message_id": message["message_id"], "button": "Go"})
    )
    await api.poll(wait_for=6)  # /start, its edit, contact, location, photo, the callback
    await api("answerCallbackQuery", {"callback_query_id": api.updates[-1]["callback_query"]["id"]})
    await press
    invoice = await api(
        "sendInvoice",
        {
            "chat_id": alice["id"],
            "title": "Tea",
            "description": "Tea",
            "payload": "p",
            "currency": "USD",
            "provider_token": "t",
            "prices": [{"label": "Tea", "amount": 100}, {"label": "Delivery", "amount": 50}],
        },
    )
    pay = asyncio.create_task(
        control(sandbox, f"{user}/pay", {"message_id": invoice["message_id"]})
    )
    (query,) = await api.poll()
    await api(
        "answerPreCheckoutQuery",
        {"pre_checkout_query_id": query["pre_checkout_query"]["id"], "ok": True},
    )
    assert (await pay)["status"] == "paid"
    await control(sandbox, f"{user}/block")
    await control(sandbox, f"{user}/unblock")
    await api.poll(wait_for=3)

    kinds: set[str] = set()
    contents: set[str] = set()
    for update in api.updates:
        parsed = check_update(update)
        kinds |= set(update) - {"update_id"}
        if parsed.message is not None:
            contents.add(ContentType(parsed.message.content_type).value)
        if parsed.callback_query is not None:
            assert isinstance(parsed.callback_query.message, Message)
            assert parsed.callback_query.message.edit_date is not None
            assert parsed.callback_query.message.text == "Menu (edited)"
        if parsed.edited_message is not None:
            assert parsed.edited_message.text == "/help" and parsed.edited_message.edit_date
    assert kinds == set(UPDATE_KINDS)
    assert contents == {"text", "contact", "location", "photo", "successful_payment"}
    statuses = [
        (
            u["my_chat_member"]["old_chat_member"]["status"],
            u["my_chat_member"]["new_chat_member"]["status"],
        )
        for u in api.updates
        if "my_chat_member" in u
    ]
    assert statuses == [("member", "kicked"), ("kicked", "member")]


def message_ref(user: dict[str, Any], message: dict[str, Any]) -> dict[str, Any]:
    return {"chat_id": user["id"], "message_id": message["message_id"]}


def test_shape_problems_catches_field_names_used_instead_of_bot_api_names() -> None:
    good = {
        "message_id": 1,
        "date": 1,
        "chat": {"id": 1, "type": "private"},
        "from": {"id": 1, "is_bot": False, "first_name": "A"},
    }
    assert shape_problems(good, Message.model_validate(good), "m") == []
    typo = {**good, "from_user": good["from"], "chat": {"id": 1, "type": "private", "tittle": ""}}
    del typo["from"]
    assert shape_problems(typo, Message.model_validate(typo), "m") == [
        "m.chat.tittle: not a field of Chat",
        "m.from_user: not a field of Message",
    ]


async def test_errors_use_telegrams_envelope(sandbox: RunningSandbox) -> None:
    """400, 401, 403, 404, 409 and 429 as Telegram sends them, and as aiogram classifies
    them (its own ``check_response`` raises the matching exception)."""
    bot = sandbox.bot()
    base = f"{sandbox.url}/bot{sandbox.token}"
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            alice = await control(sandbox, "/users", {"first_name": "Alice"})
            await control(sandbox, f"/users/{alice['id']}/send", {"text": "hi"})

            async def expect(
                status: int,
                error: type[Exception],
                url: str,
                body: dict[str, Any] | None = None,
                prefix: str = "",
            ) -> dict[str, Any]:
                response = await http.post(url, json=body)
                envelope: dict[str, Any] = response.json()
                assert response.status_code == status, envelope
                assert response.headers["content-type"].startswith("application/json")
                assert {"ok", "error_code", "description"} <= set(envelope), envelope
                assert set(envelope) <= {"ok", "error_code", "description", "parameters"}
                assert envelope["ok"] is False and envelope["error_code"] == status
                assert isinstance(envelope["description"], str)
                assert envelope["description"].startswith(prefix), envelope
                if "parameters" in envelope:
                    conform(ResponseParameters, envelope["parameters"], "parameters")
                method = aiogram_methods.SendMessage(chat_id=alice["id"], text="x")
                with pytest.raises(error):
                    bot.session.check_response(bot, method, status, response.text)
                return envelope

            send = f"{base}/sendMessage"
            await expect(
                400, TelegramBadRequest, send, {"chat_id": alice["id"], "text": ""}, "Bad Request: "
            )
            await expect(
                400,
                TelegramBadRequest,
                send,
                {"chat_id": alice["id"], "text": "<b>open", "parse_mode": "HTML"},
                "Bad Request: can't parse entities",
            )
            await expect(
                401,
                TelegramUnauthorizedError,
                f"{sandbox.url}/bot1:nope/getMe",
                prefix="Unauthorized",
            )
            await expect(404, TelegramNotFound, f"{base}/sendTelepathy", prefix="Not Found")

            await control(sandbox, f"/users/{alice['id']}/block")
            await expect(
                403,
                TelegramForbiddenError,
                send,
                {"chat_id": alice["id"], "text": "x"},
                "Forbidden: bot was blocked by the user",
            )
            await control(sandbox, f"/users/{alice['id']}/unblock")

            await http.post(f"{base}/setWebhook", json={"url": "http://127.0.0.1:9/hook"})
            await expect(
                409,
                TelegramConflictError,
                f"{base}/getUpdates",
                {},
                "Conflict: can't use getUpdates method while webhook is active",
            )
            await http.post(f"{base}/deleteWebhook", json={"drop_pending_updates": True})

            await sandbox.client.request(
                "PUT", "/limits", {"enabled": True, "private_burst": 1, "private_rate": 0.01}
            )
            ok = await http.post(send, json={"chat_id": alice["id"], "text": "one"})
            assert ok.status_code == 200
            limited = await expect(
                429,
                TelegramRetryAfter,
                send,
                {"chat_id": alice["id"], "text": "two"},
                "Too Many Requests: retry after ",
            )
            assert limited["parameters"]["retry_after"] >= 1
    finally:
        await bot.session.close()
