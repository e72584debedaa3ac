"""/start (with its deep links, see bot/deep_links.py), the main menu, help and the language
switch."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from tgshop.bot.catalog_keyboards import CategoryList
from tgshop.bot.deep_links import ProductLink, ReferralLink, parse_start_payload
from tgshop.bot.keyboards import (
    LANGUAGE_NAMES,
    LanguageChoice,
    labels_everywhere,
    language_picker,
    main_menu,
    mini_app_url,
)
from tgshop.bot.product_card import send_product_by_key
from tgshop.i18n.translator import Translations
from tgshop.services.users import UserView

if TYPE_CHECKING:
    from tgshop.app import Container


def start_router(container: Container) -> Router:
    router = Router(name="start")
    shop_name = container.settings.shop.name
    shop_url = mini_app_url(container.settings.telegram.public_url)

    @router.message(CommandStart())
    async def start(
        message: Message, command: CommandObject, bot: Bot, customer: UserView, t: Translations
    ) -> None:
        link = parse_start_payload(command.args)
        if isinstance(link, ReferralLink):  # recorded silently: the welcome is the same
            await container.users.record_referrer(customer.id, link.code)
        await message.answer(
            t.gettext(
                "bot.start.welcome", name=escape(customer.first_name), shop=escape(shop_name)
            ),
            reply_markup=main_menu(t, shop_url),
        )
        if isinstance(link, ProductLink):
            await open_product_link(bot, message.chat.id, t, link.key)

    async def open_product_link(bot: Bot, chat_id: int, t: Translations, key: str) -> None:
        shop = container.settings.shop
        if not await send_product_by_key(bot, container.catalog, shop, chat_id, t, key):
            catalog_button = InlineKeyboardButton(
                text=t.gettext("bot.cart.open_catalog"), callback_data=CategoryList().pack()
            )
            await bot.send_message(
                chat_id,
                t.gettext("bot.start.product_unavailable"),
                reply_markup=InlineKeyboardMarkup(inline_keyboard=[[catalog_button]]),
            )

    @router.message(Command("help"))
    @router.message(F.text.in_(labels_everywhere(container.translator, "bot.menu.help")))
    async def help_(message: Message, t: Translations) -> None:
        await message.answer(t.gettext("bot.help", shop=escape(shop_name)))

    @router.message(Command("language"))
    @router.message(F.text.in_(labels_everywhere(container.translator, "bot.menu.language")))
    async def choose_language(message: Message, customer: UserView, t: Translations) -> None:
        await message.answer(
            t.gettext("bot.language.choose"), reply_markup=language_picker(customer.language)
        )

    @router.callback_query(LanguageChoice.filter())
    async def set_language(
        query: CallbackQuery, callback_data: LanguageChoice, customer: UserView, t: Translations
    ) -> None:
        if callback_data.code not in LANGUAGE_NAMES:  # a forged or outdated button
            await query.answer(t.gettext("bot.language.choose"), show_alert=True)
            return
        updated = await container.users.set_language(customer.id, callback_data.code)
        t = container.translator.get(updated.language)
        await query.answer(t.gettext("bot.language.set"))
        if isinstance(query.message, Message):
            await query.message.answer(
                t.gettext("bot.language.set"), reply_markup=main_menu(t, shop_url)
            )

    return router
