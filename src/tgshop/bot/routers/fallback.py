"""What no other handler took. Included last.

- a message in a private chat (text, sticker, photo, anything) gets "I didn't understand
  that — use the menu below" with the main menu;
- messages in groups are left alone: most of what people say there is not for us;
- a button press nobody handles (an outdated or forged button, a keyboard from an older
  version of the bot) gets an alert "This button is out of date", so the spinner stops and
  the person knows why nothing happened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.types import CallbackQuery, Message

from tgshop.bot.keyboards import main_menu, mini_app_url
from tgshop.i18n.translator import Translations

if TYPE_CHECKING:
    from tgshop.app import Container


def fallback_router(container: Container) -> Router:
    router = Router(name="fallback")
    shop_url = mini_app_url(container.settings.telegram.public_url)

    @router.message(F.chat.type == ChatType.PRIVATE)
    async def not_understood(message: Message, t: Translations) -> None:
        await message.answer(
            t.gettext("bot.flow.not_understood"), reply_markup=main_menu(t, shop_url)
        )

    @router.callback_query()
    async def outdated_button(query: CallbackQuery, t: Translations) -> None:
        await query.answer(t.gettext("bot.flow.alert.outdated_button"), show_alert=True)

    return router
