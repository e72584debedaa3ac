"""POST /telegram/webhook: where Telegram delivers updates.

Rules: the ``X-Telegram-Bot-Api-Secret-Token`` header must equal the configured secret
(compared in constant time; 401 otherwise); a body that is not an Update is a 400; an update
id seen before is acknowledged and dropped; the answer is 200 once the update is handled.
"""

from __future__ import annotations

import hmac
from typing import Any

import structlog
from aiogram import Bot, Dispatcher
from aiogram.types import Update
from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from tgshop.api.problems import problem, request_id_of
from tgshop.bot.dedup import UpdateDeduplicator

WEBHOOK_PATH = "/telegram/webhook"
log = structlog.get_logger("tgshop.bot.webhook")


def _problem(request: Request, status: int, detail: str) -> Response:
    return problem(
        status, detail=detail, instance=request.url.path, request_id=request_id_of(request)
    )


def build_telegram_webhook_router(
    bot: Bot, dispatcher: Dispatcher, secret: str | None, dedup: UpdateDeduplicator
) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    expected = (secret or "").encode()

    @router.post(WEBHOOK_PATH)
    async def webhook(request: Request) -> Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        if not expected or not hmac.compare_digest(given, expected):
            return _problem(request, 401, "wrong or missing X-Telegram-Bot-Api-Secret-Token")
        try:
            payload: Any = await request.json()
            update = Update.model_validate(payload, context={"bot": bot})
        except (ValueError, ValidationError):
            return _problem(request, 400, "the body is not a Telegram Update")
        if not await dedup.first_time(bot.id, update.update_id):
            log.info("update.duplicate", update_id=update.update_id)
            return Response(status_code=200)
        await dispatcher.feed_update(bot, update)
        return Response(status_code=200)

    return router
