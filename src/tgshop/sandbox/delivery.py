"""Webhook delivery: POST every queued update to the bot's URL like Telegram does.

Rules: the secret token travels in ``X-Telegram-Bot-Api-Secret-Token``; an update is done
when the bot answers 2xx, otherwise it is retried with a growing pause (and the error shows
in getWebhookInfo); at most ``max_connections`` requests are in flight; updates of one chat
are delivered one at a time, in order. A JSON answer naming a ``method`` is executed as a
Bot API call, as Telegram does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from tgshop.sandbox.state import BotState, Webhook

RETRY_PAUSES = (0.1, 0.5, 1.0, 2.0, 5.0)
MethodRunner = Callable[[BotState, str, dict[str, Any]], Awaitable[Any]]


def chat_key(update: dict[str, Any]) -> int | None:
    for kind, payload in update.items():
        if kind == "update_id" or not isinstance(payload, dict):
            continue
        chat = payload.get("chat") or (payload.get("message") or {}).get("chat")
        if chat:
            return int(chat["id"])
        sender = payload.get("from")
        if sender:
            return int(sender["id"])
    return None


class WebhookDelivery:
    def __init__(self, run_method: MethodRunner, *, timeout: float = 30.0) -> None:
        self._run_method = run_method
        self._timeout = timeout
        # aiohttp, not httpx: httpx's connection pool slows to ~150 requests/s with 40
        # requests in flight (bench/sandbox.py), aiohttp keeps well above 2,000.
        self._client: aiohttp.ClientSession | None = None
        self._loops: dict[str, asyncio.Task[None]] = {}
        self._in_flight: dict[str, set[int | None]] = {}
        self._counts: dict[str, int] = {}
        self.delivered = 0

    def in_flight(self, bot: BotState) -> int:
        return self._counts.get(bot.token, 0)

    def start(self, bot: BotState) -> None:
        task = self._loops.get(bot.token)
        if task is None or task.done():
            self._loops[bot.token] = asyncio.create_task(self._loop(bot), name=f"webhook-{bot.id}")

    async def close(self) -> None:
        for task in self._loops.values():
            task.cancel()
        for task in self._loops.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._client is not None:
            await self._client.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._client is None:
            self._client = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self._timeout),
                connector=aiohttp.TCPConnector(limit=200),
            )
        return self._client

    async def _loop(self, bot: BotState) -> None:
        busy = self._in_flight.setdefault(bot.token, set())
        tasks: set[asyncio.Task[None]] = set()
        while bot.webhook is not None:
            hook = bot.webhook
            update = self._next(bot, busy) if len(busy) < hook.max_connections else None
            if update is None:
                async with bot.new_update:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(bot.new_update.wait(), 0.5)
                continue
            key = chat_key(update)
            busy.add(key)
            self._counts[bot.token] = self._counts.get(bot.token, 0) + 1
            task = asyncio.create_task(self._deliver(bot, hook, update, key, busy))
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    @staticmethod
    def _next(bot: BotState, busy: set[int | None]) -> dict[str, Any] | None:
        for index, update in enumerate(bot.updates):
            if chat_key(update) not in busy:
                del bot.updates[index]
                return update
        return None

    async def _deliver(
        self,
        bot: BotState,
        hook: Webhook,
        update: dict[str, Any],
        key: int | None,
        busy: set[int | None],
    ) -> None:
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        attempt = 0
        try:
            while bot.webhook is hook:
                error = await self._post(bot, hook, update, headers)
                if error is None:
                    self.delivered += 1
                    return
                hook.last_error_date = int(time.time())
                hook.last_error_message = error
                await asyncio.sleep(RETRY_PAUSES[min(attempt, len(RETRY_PAUSES) - 1)])
                attempt += 1
            bot.updates.appendleft(update)  # the webhook changed: keep it for whoever is next
        finally:
            busy.discard(key)
            self._counts[bot.token] -= 1
            async with bot.new_update:
                bot.new_update.notify_all()

    async def _post(
        self, bot: BotState, hook: Webhook, update: dict[str, Any], headers: dict[str, str]
    ) -> str | None:
        body = json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            async with self._http().post(hook.url, data=body, headers=headers) as response:
                content = await response.read()
                status, reason = response.status, response.reason or ""
                content_type = response.headers.get("content-type", "")
        except (aiohttp.ClientError, TimeoutError) as exc:
            return f"Connection failed: {exc.__class__.__name__}"
        if not 200 <= status < 300:
            return f"Wrong response from the webhook: {status} {reason}"
        await self._answer_in_response(bot, content, content_type)
        return None

    async def _answer_in_response(self, bot: BotState, content: bytes, content_type: str) -> None:
        if not content or "json" not in content_type:
            return
        try:
            body = json.loads(content)
        except ValueError:
            return
        if isinstance(body, dict) and isinstance(body.get("method"), str):
            params = {k: v for k, v in body.items() if k != "method"}
            with contextlib.suppress(Exception):  # Telegram ignores a failing reply too
                await self._run_method(bot, body["method"], params)
