"""The control API: what a test or the chat page does as Telegram users (JSON over HTTP).

Documented in docs/sandbox.md. Errors answer ``{"ok": false, "error": "..."}`` with 400
(the action is not possible) or 404 (no such user, chat or bot).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tgshop.sandbox import actions
from tgshop.sandbox.core import Sandbox
from tgshop.sandbox.faults import FaultRule
from tgshop.sandbox.methods_payments import PRE_CHECKOUT_TIMEOUT
from tgshop.sandbox.state import Account, BotState, Chat, now

MAX_WAIT = 30.0
# Telegram clients show a chat action ("typing…") for 5 seconds or until the next message.
CHAT_ACTION_SECONDS = 5


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


Handler = Callable[[Request], Awaitable[Any]]


def _endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            result = await handler(request)
        except ControlError as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, exc.status)
        except (actions.ActionError, ValueError) as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, 400)
        return JSONResponse({"ok": True, "result": result})

    return endpoint


async def _body(request: Request) -> dict[str, Any]:
    if not await request.body():
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise ControlError(400, "the body must be JSON") from None
    if not isinstance(data, dict):
        raise ControlError(400, "the body must be a JSON object")
    return data


def _field(data: dict[str, Any], name: str, kind: type, *, required: bool = True) -> Any:
    value = data.get(name)
    if value is None:
        if required:
            raise ControlError(400, f"{name} is required")
        return None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ControlError(400, f"{name} must be a {kind.__name__}")
    return value


_GONE = frozenset({"left", "kicked"})


def _last_message(chat: Chat) -> dict[str, Any] | None:
    if not chat.messages:
        return None
    return chat.messages[next(reversed(chat.messages))].to_api()


def _chat_action(chat: Chat) -> str | None:
    """The bot's current chat action, while Telegram would still show it."""
    if chat.chat_action is None:
        return None
    action, at = chat.chat_action
    return action if now() - at <= CHAT_ACTION_SECONDS else None


async def _client_gone(request: Request) -> None:
    """Return when the caller hangs up (a closed browser tab must not hold a long poll)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _wait_for_change(request: Request, chat: Chat, after: int, wait: float) -> None:
    """Long poll: until the chat's version passes ``after``, ``wait`` seconds pass or the
    caller disconnects."""

    async def changed() -> None:
        async with chat.changed:
            await chat.changed.wait_for(lambda: chat.version > after)

    waiters = {asyncio.ensure_future(changed()), asyncio.ensure_future(_client_gone(request))}
    try:
        await asyncio.wait(waiters, timeout=wait, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)


def control_routes(sandbox: Sandbox) -> list[Route]:
    def bot_of(request: Request) -> BotState:
        name = request.query_params.get("bot")
        try:
            return sandbox.bot_by_username_or_first(name)
        except KeyError:
            raise ControlError(404, f"no bot {name!r}" if name else "no bot registered") from None

    def user_of(request: Request) -> Account:
        try:
            return sandbox.user(int(request.path_params["user_id"]))
        except (KeyError, ValueError):
            raise ControlError(404, "no such user") from None

    def chat_of(bot: BotState, chat_id: Any, user: Account | None = None) -> Chat:
        if chat_id is None and user is not None:
            return sandbox.private_chat(bot, user)
        try:
            key = int(chat_id)
        except (TypeError, ValueError):
            raise ControlError(404, "no such chat") from None
        if key in bot.chats:
            return bot.chats[key]
        if key in sandbox.world.users:  # a person's private chat exists from the start
            return sandbox.private_chat(bot, sandbox.world.users[key])
        raise ControlError(404, "no such chat")

    async def create_bot(request: Request) -> Any:
        data = await _body(request)
        token = _field(data, "token", str, required=False) or (
            f"{secrets.randbelow(9 * 10**9) + 10**9}:{secrets.token_urlsafe(26)}"
        )
        bot = sandbox.add_bot(
            token,
            username=_field(data, "username", str, required=False) or "tgshop_sandbox_bot",
            first_name=_field(data, "first_name", str, required=False) or "Sandbox Shop",
        )
        return {"token": bot.token, **bot.account.to_api()}

    async def list_bots(request: Request) -> Any:
        return [b.account.to_api() for b in sandbox.world.bots.values()]

    async def launch_key(request: Request) -> Any:
        # What a shop configures as TGSHOP_API_INIT_DATA_PUBLIC_KEY to check launch data the
        # third-party way (Ed25519) against the sandbox instead of Telegram.
        return {"public_key": sandbox.launch_key.public_hex}

    async def create_user(request: Request) -> Any:
        data = await _body(request)
        user = sandbox.add_user(
            _field(data, "first_name", str),
            last_name=_field(data, "last_name", str, required=False),
            username=_field(data, "username", str, required=False),
            language_code=_field(data, "language_code", str, required=False) or "en",
        )
        return user.to_api()

    async def list_users(request: Request) -> Any:
        return [u.to_api() for u in sandbox.world.users.values()]

    async def create_group(request: Request) -> Any:
        data = await _body(request)
        members = data.get("member_ids", [])
        if not isinstance(members, list) or not all(isinstance(m, int) for m in members):
            raise ControlError(400, "member_ids must be a list of user ids")
        for member in members:
            if member not in sandbox.world.users:
                raise ControlError(404, f"no user {member}")
        return sandbox.add_group(bot_of(request), _field(data, "title", str), members).to_api()

    async def send(request: Request) -> Any:
        data, bot, user = await _body(request), bot_of(request), user_of(request)
        chat = chat_of(bot, data.get("chat_id"), user)
        if chat.type != "private" and chat.members.get(user.id) is None:
            raise ControlError(400, "this person is not a member of that chat")
        return (
            await actions.send_text(sandbox, bot, user, _field(data, "text", str), chat)
        ).to_api()

    async def edit(request: Request) -> Any:
        data, bot, user = await _body(request), bot_of(request), user_of(request)
        chat = chat_of(bot, data.get("chat_id"), user)
        message = await actions.edit_text(
            sandbox, bot, user, _field(data, "message_id", int), _field(data, "text", str), chat
        )
        return message.to_api()

    async def contact(request: Request) -> Any:
        data = await _body(request)
        message = await actions.send_contact(
            sandbox,
            bot_of(request),
            user_of(request),
            _field(data, "phone_number", str),
            own=data.get("own", True) is not False,
        )
        return message.to_api()

    async def location(request: Request) -> Any:
        data = await _body(request)
        message = await actions.send_location(
            sandbox,
            bot_of(request),
            user_of(request),
            _field(data, "latitude", float),
            _field(data, "longitude", float),
        )
        return message.to_api()

    async def photo(request: Request) -> Any:
        data = await _body(request)
        try:
            raw = base64.b64decode(_field(data, "data_base64", str), validate=True)
        except binascii.Error:
            raise ControlError(400, "data_base64 is not base64") from None
        message = await actions.send_photo(
            sandbox,
            bot_of(request),
            user_of(request),
            raw,
            _field(data, "caption", str, required=False),
        )
        return message.to_api()

    async def press(request: Request) -> Any:
        data, bot, user = await _body(request), bot_of(request), user_of(request)
        chat = chat_of(bot, data.get("chat_id"), user)
        wait = min(float(data.get("wait", actions.CALLBACK_WAIT)), MAX_WAIT)
        return await actions.press_inline(
            sandbox,
            bot,
            user,
            chat,
            _field(data, "message_id", int),
            _field(data, "button", str),
            wait=wait,
        )

    async def reply_button(request: Request) -> Any:
        data = await _body(request)
        return await actions.press_reply(
            sandbox, bot_of(request), user_of(request), _field(data, "text", str)
        )

    async def web_app(request: Request) -> Any:
        data = await _body(request)
        return {
            "url": actions.open_web_app(
                sandbox, bot_of(request), user_of(request), _field(data, "url", str)
            )
        }

    async def pay(request: Request) -> Any:
        data, bot, user = await _body(request), bot_of(request), user_of(request)
        link = _field(data, "link", str, required=False)
        chat = None if link else chat_of(bot, data.get("chat_id"), user)
        wait = min(float(data.get("wait", PRE_CHECKOUT_TIMEOUT)), PRE_CHECKOUT_TIMEOUT)
        message_id = data.get("message_id")
        return await actions.pay(sandbox, bot, user, chat, message_id, link=link, wait=wait)

    async def block(request: Request) -> Any:
        await actions.set_blocked(sandbox, bot_of(request), user_of(request), True)
        return True

    async def unblock(request: Request) -> Any:
        await actions.set_blocked(sandbox, bot_of(request), user_of(request), False)
        return True

    async def list_chats(request: Request) -> Any:
        # The chat page polls this for its chat list: previews, unread markers, "typing…".
        return [
            {
                **c.to_api(),
                "version": c.version,
                "messages": len(c.messages),
                "member_ids": [m for m, status in c.members.items() if status not in _GONE],
                "last_message": _last_message(c),
                "chat_action": _chat_action(c),
            }
            for c in bot_of(request).chats.values()
        ]

    async def read_chat(request: Request) -> Any:
        bot = bot_of(request)
        chat = chat_of(bot, request.path_params["chat_id"])
        after = int(request.query_params.get("after_version", -1))
        wait = min(float(request.query_params.get("wait", 0)), MAX_WAIT)
        if wait > 0 and chat.version <= after:
            await _wait_for_change(request, chat, after, wait)
        return {
            "chat": chat.to_api(),
            "version": chat.version,
            "messages": [m.to_api() for m in chat.messages.values()],
            "reply_keyboard": chat.reply_keyboard,
            "chat_action": _chat_action(chat),
            "blocked": chat.id in bot.blocked_by,
            "member_ids": [m for m, status in chat.members.items() if status not in _GONE],
            "paid_message_ids": [
                m.message_id for m in chat.messages.values() if m.private.get("paid")
            ],
        }

    async def calls(request: Request) -> Any:
        return [{"at": at, "method": name} for at, name in bot_of(request).calls]

    async def set_fault(request: Request) -> Any:
        data = await _body(request)
        method = _field(data, "method", str)
        known = {"too_many_requests", "server_error", "drop", "delay", "retry_after"}
        unknown = set(data) - known - {"method"}
        if unknown:
            raise ControlError(400, f"unknown fault fields: {', '.join(sorted(unknown))}")
        sandbox.faults.set(method, FaultRule(**{k: v for k, v in data.items() if k in known}))
        return True

    async def clear_faults(request: Request) -> Any:
        sandbox.faults.clear()
        return True

    async def set_limits(request: Request) -> Any:
        data = await _body(request)
        for key, value in data.items():
            if not hasattr(sandbox.limits, key) or key.startswith("_"):
                raise ControlError(400, f"unknown limit {key!r}")
            setattr(sandbox.limits, key, value)
        sandbox.limits._buckets.clear()
        return True

    async def file(request: Request) -> Response:
        bot = bot_of(request)
        stored = bot.files.get(request.path_params["file_id"].removesuffix("_s"))
        if stored is None or stored.data is None:
            return JSONResponse({"ok": False, "error": "no such file"}, 404)
        return Response(
            stored.data,
            media_type=stored.mime_type,
            headers={"Cache-Control": "private, max-age=3600"},
        )

    async def file_info(request: Request) -> Any:
        # URL photos have no bytes in the sandbox (it never goes online): the page shows
        # their URL instead.
        stored = bot_of(request).files.get(request.path_params["file_id"].removesuffix("_s"))
        if stored is None:
            raise ControlError(404, "no such file")
        return {
            "file_id": stored.file_id,
            "kind": stored.kind,
            "mime_type": stored.mime_type,
            "file_name": stored.file_name,
            "file_size": stored.size,
            "url": stored.url,
            "has_data": stored.data is not None,
        }

    post, get = ["POST"], ["GET"]
    user_path = "/users/{user_id:int}"
    return [
        Route("/bots", _endpoint(create_bot), methods=post),
        Route("/bots", _endpoint(list_bots), methods=get),
        Route("/launch-key", _endpoint(launch_key), methods=get),
        Route("/users", _endpoint(create_user), methods=post),
        Route("/users", _endpoint(list_users), methods=get),
        Route("/groups", _endpoint(create_group), methods=post),
        Route(f"{user_path}/send", _endpoint(send), methods=post),
        Route(f"{user_path}/edit", _endpoint(edit), methods=post),
        Route(f"{user_path}/contact", _endpoint(contact), methods=post),
        Route(f"{user_path}/location", _endpoint(location), methods=post),
        Route(f"{user_path}/photo", _endpoint(photo), methods=post),
        Route(f"{user_path}/press", _endpoint(press), methods=post),
        Route(f"{user_path}/reply-button", _endpoint(reply_button), methods=post),
        Route(f"{user_path}/web-app", _endpoint(web_app), methods=post),
        Route(f"{user_path}/pay", _endpoint(pay), methods=post),
        Route(f"{user_path}/block", _endpoint(block), methods=post),
        Route(f"{user_path}/unblock", _endpoint(unblock), methods=post),
        Route("/chats", _endpoint(list_chats), methods=get),
        Route("/chats/{chat_id}", _endpoint(read_chat), methods=get),
        Route("/calls", _endpoint(calls), methods=get),
        Route("/faults", _endpoint(set_fault), methods=["PUT"]),
        Route("/faults", _endpoint(clear_faults), methods=["DELETE"]),
        Route("/limits", _endpoint(set_limits), methods=["PUT"]),
        Route("/files/{file_id}", file, methods=get),
        Route("/files/{file_id}/info", _endpoint(file_info), methods=get),
    ]
