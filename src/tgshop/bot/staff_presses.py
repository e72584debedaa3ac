"""What every staff button in a shared chat needs: who may press it, which card it was on,
naming the person a prompt is for, and redrawing a card in place."""

from __future__ import annotations

from html import escape

import structlog
from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup

from tgshop.i18n.translator import Translations
from tgshop.jobs.telegram_client import inline_keyboard
from tgshop.services.ports import InlineButtons
from tgshop.services.staff import StaffService

log = structlog.get_logger("tgshop.bot.staff")


async def staff_card(
    query: CallbackQuery, staff: StaffService, t: Translations
) -> tuple[int, int] | None:
    """The (chat id, message id) of the card a staff member pressed a button on; None after
    telling anyone else (or a press on a message we cannot see) with an alert."""
    if not await staff.is_staff(query.from_user.id):
        await query.answer(t.gettext("staff.alert.only_staff"), show_alert=True)
        return None
    if query.message is None:  # an inline-mode message: our cards are never those
        await query.answer(t.gettext("staff.alert.outdated"), show_alert=True)
        return None
    return query.message.chat.id, query.message.message_id


def mention(telegram_id: int, name: str) -> str:
    """A link naming a person in an HTML message (the group sees whom a prompt is for)."""
    return f'<a href="tg://user?id={telegram_id}">{escape(name, quote=False)}</a>'


async def redraw_card(
    bot: Bot, where: tuple[int, int], text: str, buttons: InlineButtons, **context: object
) -> None:
    """Replace a card's text and buttons; a card someone redrew already is fine."""
    markup = inline_keyboard(buttons) or InlineKeyboardMarkup(inline_keyboard=[])
    try:
        await bot.edit_message_text(
            text=text, chat_id=where[0], message_id=where[1], reply_markup=markup
        )
    except TelegramBadRequest as exc:
        if "not modified" not in exc.message:
            log.warning("staff.card_not_redrawn", error=exc.message, **context)
