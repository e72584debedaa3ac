"""Bot API: identity, webhooks and long polling."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any
from urllib.parse import urlsplit

from tgshop.sandbox.core import Sandbox
from tgshop.sandbox.errors import bad_request, conflict
from tgshop.sandbox.params import Params
from tgshop.sandbox.state import BotState, Webhook

MAX_POLL_TIMEOUT = 50
_poll_ids = itertools.count(1)


async def get_me(sandbox: Sandbox, bot: BotState, params: Params) -> dict[str, Any]:
    return bot.account.to_api() | {
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


def _allowed_updates(params: Params) -> list[str] | None:
    allowed = params.json("allowed_updates")
    if allowed is None:
        return None
    if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
        raise bad_request("can't parse allowed_updates JSON array")
    return allowed


async def set_webhook(sandbox: Sandbox, bot: BotState, params: Params) -> bool:
    url = params.str("url") or ""
    if not url:
        return await delete_webhook(sandbox, bot, params)
    parts = urlsplit(url)
    local = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    if parts.scheme not in ({"https", "http"} if local else {"https"}) or not parts.netloc:
        raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
    secret = params.str("secret_token")
    if secret is not None and (
        not 1 <= len(secret) <= 256
        or not all(c.isascii() and (c.isalnum() or c in "_-") for c in secret)
    ):
        raise bad_request("secret token contains unallowed characters")
    max_connections = params.int("max_connections", 40) or 40
    if not 1 <= max_connections <= 100:
        raise bad_request("bad webhook: max_connections must be between 1 and 100")
    allowed = _allowed_updates(params)
    if params.bool("drop_pending_updates"):
        bot.updates.clear()
    if allowed is not None:
        bot.allowed_updates = allowed
    bot.webhook = Webhook(
        url, secret, max_connections, allowed if allowed is not None else bot.allowed_updates
    )
    sandbox.delivery.start(bot)
    async with bot.new_update:
        bot.new_update.notify_all()  # a waiting getUpdates must now fail with Conflict
    return True


async def delete_webhook(sandbox: Sandbox, bot: BotState, params: Params) -> bool:
    if params.bool("drop_pending_updates"):
        bot.updates.clear()
    bot.webhook = None
    return True


async def get_webhook_info(sandbox: Sandbox, bot: BotState, params: Params) -> dict[str, Any]:
    hook = bot.webhook
    pending = len(bot.updates) + sandbox.delivery.in_flight(bot)
    if hook is None:
        return {"url": "", "has_custom_certificate": False, "pending_update_count": pending}
    info: dict[str, Any] = {
        "url": hook.url,
        "has_custom_certificate": False,
        "pending_update_count": pending,
        "max_connections": hook.max_connections,
        "ip_address": "127.0.0.1",
    }
    if hook.allowed_updates is not None:
        info["allowed_updates"] = hook.allowed_updates
    if hook.last_error_date:
        info["last_error_date"] = hook.last_error_date
        info["last_error_message"] = hook.last_error_message
    return info


async def get_updates(sandbox: Sandbox, bot: BotState, params: Params) -> list[dict[str, Any]]:
    if bot.webhook is not None:
        raise conflict(
            "can't use getUpdates method while webhook is active; use deleteWebhook "
            "to delete the webhook first"
        )
    offset = params.int("offset", 0) or 0
    limit = params.int("limit", 100) or 100
    if not 1 <= limit <= 100:
        limit = 100
    timeout = min(max(params.int("timeout", 0) or 0, 0), MAX_POLL_TIMEOUT)
    allowed = _allowed_updates(params)
    if allowed is not None:
        bot.allowed_updates = allowed
    _confirm(bot, offset)
    me = next(_poll_ids)
    bot.poller = me
    async with bot.new_update:
        bot.new_update.notify_all()  # an older poller, if any, is terminated by this one
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if bot.webhook is not None:
            raise conflict(
                "can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first"
            )
        if bot.poller != me:
            raise conflict(
                "terminated by other getUpdates request; make sure that only one bot "
                "instance is running"
            )
        ready = [u for u in bot.updates if u["update_id"] >= offset][:limit]
        remaining = deadline - loop.time()
        if ready or remaining <= 0:
            if bot.poller == me:
                bot.poller = None
            return ready
        async with bot.new_update:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(bot.new_update.wait(), remaining)


def _confirm(bot: BotState, offset: int) -> None:
    """Updates below a positive offset are confirmed and forgotten; a negative offset keeps
    only the last -offset updates."""
    if offset > 0:
        while bot.updates and bot.updates[0]["update_id"] < offset:
            bot.updates.popleft()
    elif offset < 0:
        while len(bot.updates) > -offset:
            bot.updates.popleft()
