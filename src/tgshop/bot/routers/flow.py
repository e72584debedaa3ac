"""/cancel: leaves whatever flow the person is in (checkout, a staff prompt), from any state.
Included before every other router, so a flow's own "any text" handler never takes it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import Router
from aiogram.enums import ChatType
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.types import Message

from tgshop.bot.keyboards import main_menu, mini_app_url
from tgshop.i18n.translator import Translations

if TYPE_CHECKING:
    from tgshop.app import Container


def flow_router(container: Container) -> Router:
    router = Router(name="flow")
    shop_url = mini_app_url(container.settings.telegram.public_url)

    @router.message(Command("cancel"))
    async def cancel(message: Message, state: FSMContext, t: Translations) -> None:
        """Clears the state and its data; says so, or that nothing was in progress."""
        in_flow = await state.get_state() is not None
        if in_flow:
            await state.clear()
        menu = main_menu(t, shop_url) if message.chat.type == ChatType.PRIVATE else None
        key = "bot.flow.cancelled" if in_flow else "bot.flow.nothing_to_cancel"
        await message.answer(t.gettext(key), reply_markup=menu)

    return router
