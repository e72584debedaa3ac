"""Bot API: chats, members, commands, menu button, callback answers."""

from __future__ import annotations

import time
from typing import Any

from tgshop.sandbox.core import Sandbox
from tgshop.sandbox.errors import bad_request
from tgshop.sandbox.params import Params
from tgshop.sandbox.state import BotState

CALLBACK_ANSWER_TIMEOUT = 15.0
_ADMIN_RIGHTS = (
    "can_be_edited",
    "is_anonymous",
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_send_welcome_messages",
)


async def get_chat(sandbox: Sandbox, bot: BotState, params: Params) -> dict[str, Any]:
    chat = sandbox.chat(bot, params.chat_id())
    return chat.to_api() | {
        "accent_color_id": 0,
        "max_reaction_count": 11,
        "accepted_gift_types": {
            "unlimited_gifts": False,
            "limited_gifts": False,
            "unique_gifts": False,
            "premium_subscription": False,
            "gifts_from_channels": False,
        },
    }


async def get_chat_member(sandbox: Sandbox, bot: BotState, params: Params) -> dict[str, Any]:
    chat = sandbox.chat(bot, params.chat_id())
    user_id = params.int("user_id", required=True) or 0
    account = bot.account if user_id == bot.id else sandbox.world.users.get(user_id)
    if account is None:
        raise bad_request("user not found")
    status = chat.members.get(user_id, "left")
    if chat.type == "private" and user_id == chat.id and user_id in bot.blocked_by:
        status = "member"  # blocking the bot does not change the person's own membership
    member: dict[str, Any] = {"status": status, "user": account.to_api()}
    if status == "administrator":
        member |= {
            right: right != "is_anonymous" and right != "can_be_edited" for right in _ADMIN_RIGHTS
        }
    elif status == "creator":
        member["is_anonymous"] = False
    elif status == "kicked":
        member["until_date"] = 0
    return member


def _scope_key(scope: Any) -> str:
    if scope is None:
        return "default"
    if not isinstance(scope, dict) or "type" not in scope:
        raise bad_request("can't parse BotCommandScope")
    return ":".join(str(scope.get(k, "")) for k in ("type", "chat_id", "user_id"))


async def set_my_commands(sandbox: Sandbox, bot: BotState, params: Params) -> bool:
    commands = params.json("commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request("commands must be an array of at most 100 BotCommand")
    for command in commands:
        name = command.get("command", "") if isinstance(command, dict) else ""
        description = command.get("description", "") if isinstance(command, dict) else ""
        if not (
            1 <= len(name) <= 32
            and name.islower() is not False
            and all(c.isascii() and (c.isalnum() or c == "_") for c in name)
        ):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(description) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    key = (_scope_key(params.json("scope")), params.str("language_code") or "")
    bot.commands[key] = commands
    return True


async def get_my_commands(sandbox: Sandbox, bot: BotState, params: Params) -> list[dict[str, Any]]:
    key = (_scope_key(params.json("scope")), params.str("language_code") or "")
    return bot.commands.get(key, [])


async def delete_my_commands(sandbox: Sandbox, bot: BotState, params: Params) -> bool:
    key = (_scope_key(params.json("scope")), params.str("language_code") or "")
    bot.commands.pop(key, None)
    return True


async def set_chat_menu_button(sandbox: Sandbox, bot: BotState, params: Params) -> bool:
    chat_id = params.int("chat_id")
    button = params.json("menu_button", {"type": "default"})
    if not isinstance(button, dict) or button.get("type") not in {"default", "commands", "web_app"}:
        raise bad_request("can't parse menu button")
    if button["type"] == "web_app" and not (
        button.get("text") and (button.get("web_app") or {}).get("url")
    ):
        raise bad_request("BUTTON_TEXT_INVALID")
    bot.menu_buttons[chat_id] = button
    return True


async def get_chat_menu_button(sandbox: Sandbox, bot: BotState, params: Params) -> dict[str, Any]:
    chat_id = params.int("chat_id")
    return bot.menu_buttons.get(chat_id) or bot.menu_buttons.get(None) or {"type": "default"}


async def answer_callback_query(sandbox: Sandbox, bot: BotState, params: Params) -> bool:
    query_id = params.str("callback_query_id", required=True) or ""
    query = bot.callback_queries.pop(query_id, None)
    too_old = query is None or time.monotonic() - query.created > CALLBACK_ANSWER_TIMEOUT
    if query is None or too_old or query.answer.done():
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    text = params.str("text")
    if text is not None and len(text) > 200:
        raise bad_request("MESSAGE_TOO_LONG")
    query.answer.set_result(
        {"text": text, "show_alert": params.bool("show_alert"), "url": params.str("url")}
    )
    return True


async def get_file(sandbox: Sandbox, bot: BotState, params: Params) -> dict[str, Any]:
    file_id = (params.str("file_id", required=True) or "").removesuffix("_s")
    stored = bot.files.get(file_id)
    if stored is None or stored.data is None:
        raise bad_request("wrong file_id or the file is temporarily unavailable")
    return {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.size,
        "file_path": f"{stored.kind}s/{stored.file_id}",
    }
