"""The Bot API method table and the one entry point every call goes through."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from tgshop.sandbox import methods_chats as chats
from tgshop.sandbox import methods_messages as messages
from tgshop.sandbox import methods_payments as payments
from tgshop.sandbox import methods_updates as updates
from tgshop.sandbox.core import Sandbox
from tgshop.sandbox.errors import NOT_FOUND, bad_request
from tgshop.sandbox.params import Params
from tgshop.sandbox.state import BotState

Method = Callable[[Sandbox, BotState, Params], Awaitable[Any]]

METHODS: dict[str, Method] = {
    "getme": updates.get_me,
    "setwebhook": updates.set_webhook,
    "deletewebhook": updates.delete_webhook,
    "getwebhookinfo": updates.get_webhook_info,
    "getupdates": updates.get_updates,
    "sendmessage": messages.send_message,
    "sendphoto": messages.send_photo,
    "senddocument": messages.send_document,
    "sendmediagroup": messages.send_media_group,
    "editmessagetext": messages.edit_message_text,
    "editmessagecaption": messages.edit_message_caption,
    "editmessagereplymarkup": messages.edit_message_reply_markup,
    "deletemessage": messages.delete_message,
    "sendchataction": messages.send_chat_action,
    "answercallbackquery": chats.answer_callback_query,
    "getchat": chats.get_chat,
    "getfile": chats.get_file,
    "getchatmember": chats.get_chat_member,
    "setmycommands": chats.set_my_commands,
    "getmycommands": chats.get_my_commands,
    "deletemycommands": chats.delete_my_commands,
    "setchatmenubutton": chats.set_chat_menu_button,
    "getchatmenubutton": chats.get_chat_menu_button,
    "sendinvoice": payments.send_invoice,
    "createinvoicelink": payments.create_invoice_link,
    "answerprecheckoutquery": payments.answer_pre_checkout_query,
    "refundstarpayment": payments.refund_star_payment,
    "getstartransactions": payments.get_star_transactions,
}
# Methods that put a message in a chat: these count against Telegram's flood limits.
SENDING = frozenset({"sendmessage", "sendphoto", "senddocument", "sendmediagroup", "sendinvoice"})


async def call(sandbox: Sandbox, bot: BotState, name: str, params: Params) -> Any:
    """Run one Bot API method for ``bot``; raises ApiError as Telegram would answer."""
    key = name.lower()
    method = METHODS.get(key)
    bot.calls.append((time.time(), name))
    if method is None:
        raise NOT_FOUND
    await sandbox.faults.before(key)
    if key in SENDING:
        chat_id = params.raw("chat_id")
        if chat_id is None:
            raise bad_request("chat_id is empty")
        sandbox.limits.check(bot, params.chat_id())
    return await method(sandbox, bot, params)
