"""Product photos sent by cached Telegram file_id, uploaded only the first time.

The first send of an image uploads its bytes from the database; Telegram answers with the
photo's file_ids and the largest one is stored on the image. Later sends pass that file_id:
no upload, no bytes read. A file_id only works for the bot that uploaded it, so when
Telegram refuses one (the token changed), the image is uploaded again and the new file_id
replaces the old.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Sequence

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    PhotoSize,
)
from aiogram.types.media_union import MediaUnion

from tgshop.services.catalog import CatalogService

ALBUM_LIMIT = 10  # a Telegram media group holds 2-10 items


def _largest(sizes: list[PhotoSize] | None) -> str | None:
    if not sizes:
        return None
    return max(sizes, key=lambda size: (size.width * size.height, size.file_size or 0)).file_id


def _refused_file_id(error: TelegramBadRequest) -> bool:
    text = error.message.lower()
    return "file identifier" in text or "file_id" in text or "wrong remote file" in text


async def _upload(catalog: CatalogService, media_id: int) -> BufferedInputFile:
    mime, data = await catalog.media(media_id)
    extension = mimetypes.guess_extension(mime) or ".jpg"
    return BufferedInputFile(data, filename=f"product-{media_id}{extension}")


async def send_photo(
    bot: Bot,
    catalog: CatalogService,
    chat_id: int,
    media_id: int,
    caption: str,
    markup: InlineKeyboardMarkup,
) -> Message:
    """Send one product image with a caption and buttons (see module rules)."""
    file_id = (await catalog.telegram_file_ids([media_id])).get(media_id)
    if file_id:
        try:
            return await bot.send_photo(chat_id, file_id, caption=caption, reply_markup=markup)
        except TelegramBadRequest as error:
            if not _refused_file_id(error):
                raise
    sent = await bot.send_photo(
        chat_id, await _upload(catalog, media_id), caption=caption, reply_markup=markup
    )
    if new_id := _largest(sent.photo):
        await catalog.remember_telegram_file_id(media_id, new_id)
    return sent


async def send_album(
    bot: Bot, catalog: CatalogService, chat_id: int, media_ids: Sequence[int]
) -> list[Message]:
    """Send up to ten product images as one album, caching the file_ids of the uploads."""
    media_ids = list(media_ids[:ALBUM_LIMIT])
    if len(media_ids) < 2:
        return []
    cached = await catalog.telegram_file_ids(media_ids)
    media_ids = [m for m in media_ids if m in cached]
    if len(media_ids) < 2:
        return []
    try:
        return await _send_album(bot, catalog, chat_id, media_ids, cached)
    except TelegramBadRequest as error:
        if not _refused_file_id(error):
            raise
        return await _send_album(bot, catalog, chat_id, media_ids, {})


async def _send_album(
    bot: Bot,
    catalog: CatalogService,
    chat_id: int,
    media_ids: list[int],
    cached: dict[int, str | None],
) -> list[Message]:
    items: list[MediaUnion] = []
    for media_id in media_ids:
        file_id = cached.get(media_id)
        items.append(InputMediaPhoto(media=file_id or await _upload(catalog, media_id)))
    sent = await bot.send_media_group(chat_id, media=items)
    for media_id, message in zip(media_ids, sent, strict=False):
        if cached.get(media_id):
            continue  # sent by file_id: nothing new to remember
        if new_id := _largest(message.photo):
            await catalog.remember_telegram_file_id(media_id, new_id)
    return sent
