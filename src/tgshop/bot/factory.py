"""Build the aiogram Bot and Dispatcher from the container (called by the composition root's
users: runtime and tests; nothing is built at import time)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import BotCommand

from tgshop.bot.errors import error_router
from tgshop.bot.fsm_storage import build_fsm_storage
from tgshop.bot.keyboards import mini_app_url
from tgshop.bot.maintenance import MaintenanceMiddleware
from tgshop.bot.middlewares import (
    BlockedUserMiddleware,
    CustomerMiddleware,
    FsmIdleExpiryMiddleware,
    LogContextMiddleware,
    ThrottleMiddleware,
)
from tgshop.bot.routers.cart import cart_router
from tgshop.bot.routers.catalog import catalog_router
from tgshop.bot.routers.checkout import checkout_router
from tgshop.bot.routers.fallback import fallback_router
from tgshop.bot.routers.flow import flow_router
from tgshop.bot.routers.membership import membership_router
from tgshop.bot.routers.my_orders import my_orders_router
from tgshop.bot.routers.payment import payment_router
from tgshop.bot.routers.refund_request import refund_request_router
from tgshop.bot.routers.staff import staff_router
from tgshop.bot.routers.staff_refunds import staff_refunds_router
from tgshop.bot.routers.start import start_router
from tgshop.bot.throttling import build_throttle
from tgshop.config import TelegramSettings
from tgshop.i18n.translator import Translator

if TYPE_CHECKING:
    from tgshop.app import Container


# Methods the bot calls on every button press or message. aiogram validates each answer as
# ``Response[<the method's result type>]``; pydantic keeps those generated classes only
# weakly, so after a garbage collection one is rebuilt on the next call (~5 ms each, measured
# in bench/bot.py). Holding them here keeps them built once per process.
_HOT_METHODS = (
    "AnswerCallbackQuery",
    "DeleteMessage",
    "EditMessageCaption",
    "EditMessageReplyMarkup",
    "EditMessageText",
    "SendMediaGroup",
    "SendMessage",
    "SendPhoto",
)
_pinned_response_types: list[Any] = []


def _pin_response_types() -> None:
    if _pinned_response_types:
        return
    from aiogram import methods
    from aiogram.methods.base import Response

    for name in _HOT_METHODS:
        returning = getattr(methods, name).__returning__
        _pinned_response_types.append(Response[returning])  # type: ignore[valid-type]


def build_bot(telegram: TelegramSettings) -> Bot:
    if telegram.bot_token is None:
        raise ValueError("TGSHOP_BOT_TOKEN is not set")
    _pin_response_types()
    session = AiohttpSession(api=TelegramAPIServer.from_base(telegram.telegram_api_url))
    return Bot(
        telegram.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


def build_dispatcher(container: Container) -> Dispatcher:
    """Messages and button presses pass these outer middlewares, in this order:

    1. Customer — onboarding: ``customer`` and ``t`` for everything after it;
    2. Blocked — a blocked person gets one notice, then nothing (needs ``customer``);
    3. Throttle — per-person rate limits (a blocked person's flood costs no notices);
    4. Maintenance — only staff pass while the shop is closed;
    5. FsmIdleExpiry — a flow silent too long is put away; last, so only updates that will
       reach a handler count as activity in the flow.

    Steps 2-5 let a message that carries money (successful_payment) through: money received
    is recorded whoever sent it and whatever the shop's state.

    aiogram's own FSM middleware (update level) runs before all of them and loads the state
    from ``build_fsm_storage``. Routers: payments first, /cancel (it must work in any state), the
    feature routers, the fallback last (what nobody else took).
    """
    fsm_storage = build_fsm_storage(container)
    dispatcher = Dispatcher(storage=fsm_storage)
    dispatcher.update.outer_middleware(LogContextMiddleware())
    middleware = CustomerMiddleware(container.users, container.translator)
    dispatcher.message.outer_middleware(middleware)
    dispatcher.callback_query.outer_middleware(middleware)
    blocked = BlockedUserMiddleware(
        container.users, container.translator, container.settings.shop.support_contact
    )
    dispatcher.message.outer_middleware(blocked)
    dispatcher.callback_query.outer_middleware(blocked)
    throttle = build_throttle(container)
    if throttle is not None:
        throttling = ThrottleMiddleware(throttle, container.translator)
        dispatcher.message.outer_middleware(throttling)
        dispatcher.callback_query.outer_middleware(throttling)
    # Maintenance: after Customer → Blocked → Throttle, before FsmIdleExpiry (it needs the
    # person and their language; a closed shop should not expire anyone's checkout).
    maintenance = MaintenanceMiddleware(
        container.maintenance,
        container.staff,
        container.translator,
        container.settings.shop.maintenance_notice,
    )
    dispatcher.message.outer_middleware(maintenance)
    dispatcher.callback_query.outer_middleware(maintenance)
    idle = FsmIdleExpiryMiddleware(
        fsm_storage, container.translator, mini_app_url(container.settings.telegram.public_url)
    )
    dispatcher.message.outer_middleware(idle)
    dispatcher.callback_query.outer_middleware(idle)
    # Money first: a successful payment must reach its handler whatever flow is on.
    dispatcher.include_router(payment_router(container))
    dispatcher.include_router(flow_router(container))  # /cancel works in any state
    # Staff first: its handlers are narrow (staff buttons, /admin for staff, a staff member
    # answering "tracking number?"), and that answer must not be taken for a menu choice.
    dispatcher.include_router(staff_router(container))
    dispatcher.include_router(staff_refunds_router(container))
    dispatcher.include_router(start_router(container))
    dispatcher.include_router(catalog_router(container))
    dispatcher.include_router(cart_router(container))
    dispatcher.include_router(my_orders_router(container))
    dispatcher.include_router(checkout_router(container))
    # After the menus: a menu button pressed while asked for a reason is that button.
    dispatcher.include_router(refund_request_router(container))
    dispatcher.include_router(fallback_router(container))  # keep last of the message routers
    dispatcher.include_router(membership_router(container.users))
    dispatcher.include_router(
        error_router(container.translator, container.settings.telegram.manager_chat_id)
    )
    return dispatcher


COMMANDS = ("start", "help", "language", "balance", "refund", "cancel")


async def register_commands(bot: Bot, translator: Translator) -> None:
    """The command menu in every language we speak (the default list is English)."""
    for language in ("", "en", "ru"):
        t = translator.get(language or "en")
        commands = [
            BotCommand(command=c, description=t.gettext(f"bot.command.{c}")) for c in COMMANDS
        ]
        await bot.set_my_commands(commands, language_code=language or None)
