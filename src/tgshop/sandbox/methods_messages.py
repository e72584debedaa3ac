"""Bot API: sending, editing and deleting messages."""

from __future__ import annotations

import secrets
from typing import Any

from tgshop.sandbox import files, markup
from tgshop.sandbox.core import Sandbox
from tgshop.sandbox.errors import bad_request, forbidden
from tgshop.sandbox.params import Params
from tgshop.sandbox.state import BotState, Chat, Message, now
from tgshop.sandbox.text import caption, message_text

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)


def writable_chat(sandbox: Sandbox, bot: BotState, params: Params) -> Chat:
    chat = sandbox.chat(bot, params.chat_id())
    if chat.type == "private" and chat.id in bot.blocked_by:
        raise forbidden("bot was blocked by the user")
    if chat.type != "private" and chat.members.get(bot.id) in (None, "left", "kicked"):
        raise forbidden("bot is not a member of the supergroup chat")
    return chat


def apply_reply_keyboard(chat: Chat, params: Params) -> dict[str, Any] | None:
    """Validate reply_markup; a reply keyboard becomes the chat's keyboard."""
    raw = params.json("reply_markup")
    inline = markup.inline_keyboard(raw)
    keyboard = markup.reply_keyboard(raw)
    if keyboard is False:
        chat.reply_keyboard = None
    elif isinstance(keyboard, dict):
        chat.reply_keyboard = keyboard
    return inline


async def send_message(sandbox: Sandbox, bot: BotState, params: Params) -> dict[str, Any]:
    chat = writable_chat(sandbox, bot, params)
    text, entities = message_text(params, sandbox.world.users)
    inline = apply_reply_keyboard(chat, params)
    message = await sandbox.add_message(
        chat, bot.account, text=text, entities=entities, reply_markup=inline
    )
    return message.to_api()


async def _send_file(sandbox: Sandbox, bot: BotState, params: Params, kind: str) -> dict[str, Any]:
    """sendPhoto / sendDocument: the file in the ``kind`` parameter, with a caption."""
    chat = writable_chat(sandbox, bot, params)
    params.required(kind)
    text, entities = caption(params, sandbox.world.users)
    stored = files.resolve(bot, params, kind, kind)
    inline = apply_reply_keyboard(chat, params)
    shown = files.photo_sizes(stored) if kind == "photo" else files.document(stored)
    message = await sandbox.add_message(
        chat,
        bot.account,
        caption=text,
        caption_entities=entities,
        reply_markup=inline,
        extra={kind: shown},
    )
    return message.to_api()


async def send_photo(sandbox: Sandbox, bot: BotState, params: Params) -> dict[str, Any]:
    return await _send_file(sandbox, bot, params, "photo")


async def send_document(sandbox: Sandbox, bot: BotState, params: Params) -> dict[str, Any]:
    return await _send_file(sandbox, bot, params, "document")


async def send_media_group(sandbox: Sandbox, bot: BotState, params: Params) -> list[dict[str, Any]]:
    chat = writable_chat(sandbox, bot, params)
    media = params.json("media")
    if not isinstance(media, list) or not 2 <= len(media) <= 10:
        raise bad_request("wrong number of media in the album: 2-10 expected")
    prepared = []
    for index, item in enumerate(media):
        if not isinstance(item, dict) or item.get("type") not in {"photo", "document"}:
            raise bad_request(
                f"media[{index}]: only photo and document are supported in the sandbox"
            )
        item_params = Params(
            {
                "caption": item.get("caption"),
                "parse_mode": item.get("parse_mode"),
                "caption_entities": item.get("caption_entities"),
            },
            params.uploads,
        )
        text, entities = caption(item_params, sandbox.world.users)
        stored = files.resolve(bot, params, "media", item["type"], value=item.get("media"))
        prepared.append((item["type"], stored, text, entities))
    group_id = str(secrets.randbelow(10**18))
    messages = []
    for kind, stored, text, entities in prepared:
        extra: dict[str, Any] = {"media_group_id": group_id}
        extra["photo" if kind == "photo" else "document"] = (
            files.photo_sizes(stored) if kind == "photo" else files.document(stored)
        )
        messages.append(
            await sandbox.add_message(
                chat, bot.account, caption=text, caption_entities=entities, extra=extra
            )
        )
    return [m.to_api() for m in messages]


def _editable(sandbox: Sandbox, bot: BotState, params: Params) -> Message:
    if params.has("inline_message_id"):
        raise bad_request("inline messages are not supported in the sandbox")
    chat = sandbox.chat(bot, params.chat_id())
    message_id = params.int("message_id", required=True)
    message = chat.messages.get(message_id or 0)
    if message is None:
        raise bad_request("message to edit not found")
    if message.sender.id != bot.id:
        raise bad_request("message can't be edited")
    return message


async def _store_edit(
    sandbox: Sandbox, message: Message, changes: dict[str, Any]
) -> dict[str, Any]:
    if all(getattr(message, key) == value for key, value in changes.items()):
        raise bad_request(NOT_MODIFIED)
    for key, value in changes.items():
        setattr(message, key, value)
    message.edit_date = max(now(), message.date)
    await message.chat.touch()
    return message.to_api()


async def edit_message_text(sandbox: Sandbox, bot: BotState, params: Params) -> dict[str, Any]:
    message = _editable(sandbox, bot, params)
    if message.text is None:
        raise bad_request("there is no text in the message to edit")
    text, entities = message_text(params, sandbox.world.users)
    inline = markup.inline_keyboard(params.json("reply_markup"))
    return await _store_edit(
        sandbox, message, {"text": text, "entities": entities, "reply_markup": inline}
    )


async def edit_message_caption(sandbox: Sandbox, bot: BotState, params: Params) -> dict[str, Any]:
    message = _editable(sandbox, bot, params)
    if message.text is not None:
        raise bad_request("there is no caption in the message to edit")
    text, entities = caption(params, sandbox.world.users)
    inline = markup.inline_keyboard(params.json("reply_markup"))
    return await _store_edit(
        sandbox, message, {"caption": text, "caption_entities": entities, "reply_markup": inline}
    )


async def edit_message_reply_markup(
    sandbox: Sandbox, bot: BotState, params: Params
) -> dict[str, Any]:
    message = _editable(sandbox, bot, params)
    inline = markup.inline_keyboard(params.json("reply_markup"))
    return await _store_edit(sandbox, message, {"reply_markup": inline})


async def delete_message(sandbox: Sandbox, bot: BotState, params: Params) -> bool:
    chat = sandbox.chat(bot, params.chat_id())
    message_id = params.int("message_id", required=True)
    if chat.messages.pop(message_id or 0, None) is None:
        raise bad_request("message to delete not found")
    await chat.touch()
    return True


async def send_chat_action(sandbox: Sandbox, bot: BotState, params: Params) -> bool:
    chat = writable_chat(sandbox, bot, params)
    action = params.str("action", required=True) or ""
    known = {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
    if action not in known:
        raise bad_request("wrong parameter action in request")
    chat.chat_action = (action, now())
    return True
