"""Build the aiogram Bot and Dispatcher from the container (called by the composition root's
users: runtime and tests; nothing is built at import time)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.types import BotCommand

from tgshop.bot.errors import error_router
from tgshop.bot.middlewares import CustomerMiddleware, LogContextMiddleware
from tgshop.bot.routers.membership import membership_router
from tgshop.bot.routers.start import start_router
from tgshop.config import TelegramSettings
from tgshop.i18n.translator import Translator

if TYPE_CHECKING:
    from tgshop.app import Container


def build_bot(telegram: TelegramSettings) -> Bot:
    if telegram.bot_token is None:
        raise ValueError("TGSHOP_BOT_TOKEN is not set")
    session = AiohttpSession(api=TelegramAPIServer.from_base(telegram.telegram_api_url))
    return Bot(
        telegram.bot_token.get_secret_value(),
        session=session,
        default=DefaultBotProperties(parse_mode=ParseMode.HTML),
    )


def build_dispatcher(container: Container) -> Dispatcher:
    dispatcher = Dispatcher()
    dispatcher.update.outer_middleware(LogContextMiddleware())
    middleware = CustomerMiddleware(container.users, container.translator)
    dispatcher.message.outer_middleware(middleware)
    dispatcher.callback_query.outer_middleware(middleware)
    dispatcher.include_router(start_router(container))
    dispatcher.include_router(membership_router(container.users))
    dispatcher.include_router(
        error_router(container.translator, container.settings.telegram.manager_chat_id)
    )
    return dispatcher


COMMANDS = ("start", "help", "language")


async def register_commands(bot: Bot, translator: Translator) -> None:
    """The command menu in every language we speak (the default list is English)."""
    for language in ("", "en", "ru"):
        t = translator.get(language or "en")
        commands = [
            BotCommand(command=c, description=t.gettext(f"bot.command.{c}")) for c in COMMANDS
        ]
        await bot.set_my_commands(commands, language_code=language or None)
