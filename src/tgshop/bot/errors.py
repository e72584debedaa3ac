"""One error handler for every update: the person gets a friendly message with an error id;
the managers' chat gets the id, the update type and the exception (at most a few a minute,
so a failing dependency cannot flood it); the log gets the traceback with the same id."""

from __future__ import annotations

import secrets
import time
from html import escape

import structlog
from aiogram import Bot, Router
from aiogram.types import ErrorEvent

from tgshop.i18n.translator import Translator
from tgshop.services.users import normalize_language

log = structlog.get_logger("tgshop.bot.errors")
STAFF_REPORTS_PER_MINUTE = 5


class _Budget:
    """A sliding one-minute window of staff reports."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._sent: list[float] = []

    def take(self) -> bool:
        now = time.monotonic()
        self._sent = [t for t in self._sent if now - t < 60]
        if len(self._sent) >= self.per_minute:
            return False
        self._sent.append(now)
        return True


def error_router(translator: Translator, manager_chat_id: int | None) -> Router:
    router = Router(name="errors")
    budget = _Budget(STAFF_REPORTS_PER_MINUTE)

    @router.errors()
    async def on_error(event: ErrorEvent, bot: Bot) -> bool:
        error_id = secrets.token_hex(4)
        update = event.update
        kind = update.event_type
        sender = getattr(update.event, "from_user", None)
        log.error(
            "update.failed",
            error_id=error_id,
            update_id=update.update_id,
            update_type=kind,
            user_id=sender.id if sender else None,
            exc_info=event.exception,
        )
        t = translator.get(normalize_language(sender.language_code if sender else None))
        text = t.gettext("bot.error", error_id=error_id)
        try:
            if update.message is not None:
                await bot.send_message(update.message.chat.id, text)
            elif update.callback_query is not None:
                await update.callback_query.answer(text, show_alert=True)
        except Exception:
            log.warning("update.failed.reply_failed", error_id=error_id, exc_info=True)
        if manager_chat_id is not None and budget.take():
            report = t.gettext(
                "bot.error.staff",
                error_id=error_id,
                update_type=escape(kind),
                error=escape(f"{type(event.exception).__name__}: {event.exception}"[:500]),
            )
            try:
                await bot.send_message(manager_chat_id, report)
            except Exception:
                log.warning("update.failed.staff_report_failed", error_id=error_id)
        return True

    return router
