"""Keeping the chat tidy: a button press changes the message it was pressed on.

A text screen replaces a text message in place. A text cannot become a photo (and the Bot
API sandbox has no editMessageMedia), so moving between a photo card and a text screen
deletes the old message and sends the new one: one live screen at a time.
"""

from __future__ import annotations

from contextlib import suppress

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

ANSWER_LIMIT = 200  # callback answers are at most 200 characters


def answer_text(text: str) -> str:
    return text if len(text) <= ANSWER_LIMIT else text[: ANSWER_LIMIT - 1] + "…"


def pressed_message(query: CallbackQuery) -> Message | None:
    """The message the button was on, when Telegram still lets us see it."""
    return query.message if isinstance(query.message, Message) else None


def chat_id_of(query: CallbackQuery) -> int:
    return query.message.chat.id if query.message is not None else query.from_user.id


def _unchanged(error: TelegramBadRequest) -> bool:
    # A double tap re-renders the same screen: nothing to do, not an error.
    return "message is not modified" in error.message


async def delete_quietly(bot: Bot, chat_id: int, message_id: int) -> None:
    """Delete a message we replace; one Telegram no longer lets us delete (too old, already
    gone) simply stays."""
    with suppress(TelegramBadRequest):
        await bot.delete_message(chat_id, message_id)


async def show_text(
    query: CallbackQuery, bot: Bot, text: str, markup: InlineKeyboardMarkup | None
) -> None:
    """Show a text screen in place of the pressed message."""
    message = pressed_message(query)
    if message is not None and message.text is not None:
        try:
            await message.edit_text(text, reply_markup=markup)
        except TelegramBadRequest as error:
            if not _unchanged(error):
                raise
        return
    chat_id = chat_id_of(query)
    await bot.send_message(chat_id, text, reply_markup=markup)
    if message is not None:  # after sending: if sending fails, the old screen stays
        await delete_quietly(bot, chat_id, message.message_id)


async def edit_caption(message: Message, caption: str, markup: InlineKeyboardMarkup) -> None:
    try:
        await message.edit_caption(caption=caption, reply_markup=markup)
    except TelegramBadRequest as error:
        if not _unchanged(error):
            raise
