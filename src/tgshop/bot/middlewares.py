"""Cross-cutting steps every customer update goes through."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiogram import BaseMiddleware
from aiogram.types import TelegramObject, Update, User

from tgshop.i18n.translator import Translator
from tgshop.services.users import TelegramUserData, UserService

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


class CustomerMiddleware(BaseMiddleware):
    """Lazy onboarding: the person behind every message or button press is created or
    refreshed (names, language) and handed to handlers as ``customer`` with their ``t``
    translations."""

    def __init__(self, users: UserService, translator: Translator) -> None:
        self._users = users
        self._translator = translator

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        sender: User | None = data.get("event_from_user")
        if sender is not None and not sender.is_bot:
            customer = await self._users.onboard(
                TelegramUserData(
                    telegram_id=sender.id,
                    first_name=sender.first_name,
                    last_name=sender.last_name,
                    username=sender.username,
                    language_code=sender.language_code,
                )
            )
            data["customer"] = customer
            data["t"] = self._translator.get(customer.language)
        return await handler(event, data)


class LogContextMiddleware(BaseMiddleware):
    """Every log line written while an update is handled carries its update and user ids."""

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        sender: User | None = data.get("event_from_user")
        update_id = event.update_id if isinstance(event, Update) else None
        with structlog.contextvars.bound_contextvars(
            update_id=update_id, user_id=sender.id if sender else None
        ):
            return await handler(event, data)
