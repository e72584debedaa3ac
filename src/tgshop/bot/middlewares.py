"""Cross-cutting steps every customer update goes through.

Messages and button presses pass, in this order (registered in bot/factory.py): Customer
(onboarding: ``customer`` and ``t``) → Blocked → Throttle → Maintenance (bot/maintenance.py)
→ FsmIdleExpiry, then the routers: /cancel first, the feature routers, the fallback last.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from html import escape
from typing import Any

import structlog
from aiogram import BaseMiddleware, Bot
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    Chat,
    Message,
    ReplyKeyboardRemove,
    TelegramObject,
    Update,
    User,
)

from tgshop.bot.fsm_storage import IdleAwareStorage
from tgshop.bot.keyboards import main_menu
from tgshop.bot.throttling import UpdateThrottle, Verdict
from tgshop.i18n.translator import Translations, Translator
from tgshop.services.users import TelegramUserData, UserService, UserView

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
log = structlog.get_logger("tgshop.bot.middlewares")


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


def _translations(data: dict[str, Any], translator: Translator) -> Translations:
    """The person's translations (set by CustomerMiddleware), or from Telegram's language."""
    t: Translations | None = data.get("t")
    if t is not None:
        return t
    sender: User | None = data.get("event_from_user")
    return translator.get(sender.language_code if sender else None)


def carries_money(event: TelegramObject) -> bool:
    """A message that reports money received (or returned). It always reaches its handler:
    a blocked, throttled or idle customer, or maintenance, must not make a payment vanish."""
    return isinstance(event, Message) and (
        event.successful_payment is not None or event.refunded_payment is not None
    )


def _private_chat(data: dict[str, Any]) -> Chat | None:
    chat: Chat | None = data.get("event_chat")
    return chat if chat is not None and chat.type == ChatType.PRIVATE else None


class BlockedUserMiddleware(BaseMiddleware):
    """People staff have blocked (``UserService.set_blocked``) are served nothing: no handler
    runs, their button presses are answered empty (the spinner stops). The first time they
    write after being blocked, in their private chat with the bot, they get one polite
    notice (with the shop's contact when configured) and the menu keyboard is taken away;
    ``claim_blocked_notice`` makes that notice once-only across replicas."""

    def __init__(self, users: UserService, translator: Translator, contact: str = "") -> None:
        self._users = users
        self._translator = translator
        self._contact = contact.strip()

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if carries_money(event):
            return await handler(event, data)
        customer: UserView | None = data.get("customer")
        if customer is None or not customer.is_blocked:
            return await handler(event, data)
        if isinstance(event, CallbackQuery):
            await event.answer()
        chat = _private_chat(data)
        if (
            chat is not None
            and not customer.blocked_notice_sent
            and await self._users.claim_blocked_notice(customer.id)
        ):
            t = _translations(data, self._translator)
            text = t.gettext("bot.flow.blocked")
            if self._contact:
                contact = escape(self._contact, quote=False)
                text += " " + t.gettext("bot.flow.blocked_contact", contact=contact)
            bot: Bot = data["bot"]
            try:
                await bot.send_message(chat.id, text, reply_markup=ReplyKeyboardRemove())
            except TelegramAPIError as exc:  # claimed anyway: at most once, never a loop
                log.warning("blocked_notice.not_sent", user_id=customer.telegram_id, error=str(exc))
        return None


class ThrottleMiddleware(BaseMiddleware):
    """Per-person rate limits (bot/throttling.py). Over the limit, the first refused update
    is told to slow down — a message in a private chat, the text of the answer for a
    button press — and later ones get silence (button presses an empty answer)."""

    def __init__(self, throttle: UpdateThrottle, translator: Translator) -> None:
        self._throttle = throttle
        self._translator = translator

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if carries_money(event):
            return await handler(event, data)
        sender: User | None = data.get("event_from_user")
        if sender is None:
            return await handler(event, data)
        bot: Bot = data["bot"]
        verdict = await self._throttle.check(bot.id, sender.id)
        if verdict is Verdict.ALLOW:
            return await handler(event, data)
        log.info("update.throttled", user_id=sender.id, notified=verdict is Verdict.NOTIFY)
        t = _translations(data, self._translator)
        if isinstance(event, CallbackQuery):
            alert = t.gettext("bot.flow.alert.too_fast") if verdict is Verdict.NOTIFY else None
            await event.answer(alert)
        elif verdict is Verdict.NOTIFY and isinstance(event, Message) and _private_chat(data):
            await event.answer(t.gettext("bot.flow.too_fast"))
        return None


class FsmIdleExpiryMiddleware(BaseMiddleware):
    """A flow (any FSM state) left silent for ``TGSHOP_FSM_IDLE_MINUTES`` is over: the
    person's next message or button press in that chat clears its state and data, gets
    "that took a while — start again" (with the main menu in a private chat) and goes no
    further. Any other update in a flow counts as activity. Costs nothing outside a flow:
    the state aiogram already loaded tells."""

    def __init__(
        self, storage: IdleAwareStorage, translator: Translator, shop_url: str | None
    ) -> None:
        self._storage = storage
        self._translator = translator
        self._shop_url = shop_url

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        if carries_money(event):
            return await handler(event, data)
        context: FSMContext | None = data.get("state")
        if data.get("raw_state") is None or context is None:
            return await handler(event, data)
        if not await self._storage.touch(context.key):
            return await handler(event, data)
        sender: User | None = data.get("event_from_user")
        log.info("flow.expired", user_id=sender.id if sender else None, state=data["raw_state"])
        t = _translations(data, self._translator)
        menu = main_menu(t, self._shop_url) if _private_chat(data) else None
        text = t.gettext("bot.flow.expired")
        if isinstance(event, CallbackQuery):
            await event.answer()
            chat: Chat | None = data.get("event_chat")
            if chat is not None:
                bot: Bot = data["bot"]
                await bot.send_message(chat.id, text, reply_markup=menu)
        elif isinstance(event, Message):
            await event.answer(text, reply_markup=menu)
        return None
