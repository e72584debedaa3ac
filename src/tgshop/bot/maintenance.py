"""Maintenance mode in the bot: while staff have it on (``/admin``), people who are not staff
get the shop's notice and nothing else.

- a message in a private chat is answered with the notice; messages in groups (the manager
  chat's own conversation) are left alone rather than answered;
- a button press is answered with the notice as an alert (Telegram shows at most 200
  characters there);
- staff pass, so they can keep working and turn maintenance off again;
- the notice is ``TGSHOP_SHOP_MAINTENANCE_NOTICE`` (merchant text, shown literally) or, when
  that is empty, the catalog's ``maintenance.notice`` in the person's language.

The switch is read through MaintenanceService's per-process cache, so checking it on every
update costs no query most of the time; the staff check runs only while it is on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from html import escape
from typing import Any

from aiogram import BaseMiddleware
from aiogram.enums import ChatType
from aiogram.types import CallbackQuery, Message, TelegramObject, User

from tgshop.bot.middlewares import carries_money
from tgshop.i18n.translator import Translations, Translator
from tgshop.services.maintenance import MaintenanceService
from tgshop.services.staff import StaffService

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
MAX_ALERT_LENGTH = 200


class MaintenanceMiddleware(BaseMiddleware):
    def __init__(
        self,
        maintenance: MaintenanceService,
        staff: StaffService,
        translator: Translator,
        notice: str = "",
    ) -> None:
        self._maintenance = maintenance
        self._staff = staff
        self._translator = translator
        self._notice = notice.strip()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if carries_money(event) or not await self._maintenance.is_on():
            return await handler(event, data)
        sender: User | None = data.get("event_from_user")
        if sender is not None and await self._staff.is_staff(sender.id):
            return await handler(event, data)
        t: Translations = data.get("t") or self._translator.get(
            sender.language_code if sender else None
        )
        if isinstance(event, CallbackQuery):  # an alert is plain text: nothing to escape
            notice = self._notice or t.gettext("maintenance.notice")
            await event.answer(_shorten(notice, MAX_ALERT_LENGTH), show_alert=True)
        elif isinstance(event, Message) and event.chat.type == ChatType.PRIVATE:
            html = escape(self._notice, quote=False) if self._notice else None
            await event.answer(html or t.gettext("maintenance.notice"))
        return None


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
