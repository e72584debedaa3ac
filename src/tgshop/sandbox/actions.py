"""What a person does in Telegram, turned into the updates a bot receives.

Each action validates its input as the Telegram app would (you cannot press a button that
is not there, pay an invoice twice, or share coordinates off the globe) and raises
:class:`ActionError` with the reason otherwise.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from typing import Any

from tgshop.sandbox.core import Sandbox
from tgshop.sandbox.entities import detect_entities
from tgshop.sandbox.methods_payments import PRE_CHECKOUT_TIMEOUT
from tgshop.sandbox.state import (
    Account,
    BotState,
    Charge,
    Chat,
    Invoice,
    Message,
    PendingQuery,
    now,
)
from tgshop.sandbox.webapp import launch_url, sign_init_data

CALLBACK_WAIT = 15.0


class ActionError(Exception):
    """The person cannot do that (the message says why)."""


def _ensure_not_blocked(bot: BotState, user: Account, chat: Chat) -> None:
    if chat.type == "private" and user.id in bot.blocked_by:
        raise ActionError("this person blocked the bot; unblock it first")


def _pending(sandbox: Sandbox, user: Account, registry: dict[str, PendingQuery]) -> PendingQuery:
    """A query the bot must answer, registered where its answer method looks it up."""
    query = PendingQuery(sandbox.new_query_id(), user.id, time.monotonic(), sandbox.future())
    registry[query.id] = query
    return query


async def _user_message(
    sandbox: Sandbox, bot: BotState, user: Account, chat: Chat, **fields: Any
) -> Message:
    _ensure_not_blocked(bot, user, chat)
    message = await sandbox.add_message(chat, user, **fields)
    await sandbox.push_update(bot, "message", message.to_api())
    return message


async def send_text(
    sandbox: Sandbox, bot: BotState, user: Account, text: str, chat: Chat | None = None
) -> Message:
    text = text.strip()
    if not 1 <= len(text) <= 4096:
        raise ActionError("a message is 1-4096 characters")
    chat = chat or sandbox.private_chat(bot, user)
    return await _user_message(sandbox, bot, user, chat, text=text, entities=detect_entities(text))


async def edit_text(
    sandbox: Sandbox,
    bot: BotState,
    user: Account,
    message_id: int,
    text: str,
    chat: Chat | None = None,
) -> Message:
    """Edit one's own text message; the bot gets an edited_message update."""
    text = text.strip()
    if not 1 <= len(text) <= 4096:
        raise ActionError("a message is 1-4096 characters")
    chat = chat or sandbox.private_chat(bot, user)
    message = chat.messages.get(message_id)
    if message is None or message.sender.id != user.id or message.text is None:
        raise ActionError(f"{user.first_name} has no text message {message_id} in this chat")
    if message.text == text:
        raise ActionError("the new text is the same as the old one")
    message.text, message.entities = text, detect_entities(text)
    message.edit_date = max(now(), message.date)
    await chat.touch()
    await sandbox.push_update(bot, "edited_message", message.to_api())
    return message


async def send_contact(
    sandbox: Sandbox, bot: BotState, user: Account, phone_number: str, *, own: bool = True
) -> Message:
    if not phone_number or len(phone_number) > 32:
        raise ActionError("a phone number is 1-32 characters")
    contact: dict[str, Any] = {"phone_number": phone_number, "first_name": user.first_name}
    if user.last_name:
        contact["last_name"] = user.last_name
    if own:
        contact["user_id"] = user.id
    chat = sandbox.private_chat(bot, user)
    return await _user_message(sandbox, bot, user, chat, extra={"contact": contact})


async def send_location(
    sandbox: Sandbox, bot: BotState, user: Account, latitude: float, longitude: float
) -> Message:
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ActionError("latitude must be -90..90 and longitude -180..180")
    chat = sandbox.private_chat(bot, user)
    return await _user_message(
        sandbox, bot, user, chat, extra={"location": {"latitude": latitude, "longitude": longitude}}
    )


async def send_photo(
    sandbox: Sandbox, bot: BotState, user: Account, data: bytes, caption: str | None = None
) -> Message:
    from tgshop.sandbox.files import _from_upload, photo_sizes
    from tgshop.sandbox.params import Upload

    stored = _from_upload("photo", Upload("photo.jpg", "image/jpeg", data))
    bot.files[stored.file_id] = stored
    chat = sandbox.private_chat(bot, user)
    return await _user_message(
        sandbox, bot, user, chat, caption=caption, extra={"photo": photo_sizes(stored)}
    )


def find_inline_button(message: Message, label: str) -> dict[str, Any]:
    for row in (message.reply_markup or {}).get("inline_keyboard", []):
        for button in row:
            if button.get("text") == label or button.get("callback_data") == label:
                return dict(button)
    raise ActionError(f"message {message.message_id} has no button {label!r}")


async def press_inline(
    sandbox: Sandbox,
    bot: BotState,
    user: Account,
    chat: Chat,
    message_id: int,
    label: str,
    *,
    wait: float = CALLBACK_WAIT,
) -> dict[str, Any]:
    """Press an inline button: callback buttons ask the bot, and the answer comes back."""
    message = chat.messages.get(message_id)
    if message is None:
        raise ActionError(f"there is no message {message_id} in this chat")
    button = find_inline_button(message, label)
    if "callback_data" in button:
        _ensure_not_blocked(bot, user, chat)
        query = _pending(sandbox, user, bot.callback_queries)
        await sandbox.push_update(
            bot,
            "callback_query",
            {
                "id": query.id,
                "from": user.to_api(),
                "message": message.to_api(),
                "chat_instance": sandbox.chat_instance(bot, chat),
                "data": button["callback_data"],
            },
        )
        try:
            answer = await asyncio.wait_for(asyncio.shield(query.answer), wait)
        except TimeoutError:
            return {"button": button, "answered": False}
        return {"button": button, "answered": True, **answer}
    if "web_app" in button:
        return {
            "button": button,
            "open": open_web_app(sandbox, bot, user, button["web_app"]["url"]),
        }
    if "pay" in button:
        return {"button": button, "payment": await pay(sandbox, bot, user, chat, message_id)}
    return {"button": button, "open": button.get("url")}


async def press_reply(sandbox: Sandbox, bot: BotState, user: Account, label: str) -> dict[str, Any]:
    """Press a button of the reply keyboard the bot showed last."""
    chat = sandbox.private_chat(bot, user)
    keyboard = chat.reply_keyboard or {}
    for row in keyboard.get("keyboard", []):
        for button in row:
            if button.get("text") != label:
                continue
            if button.get("request_contact"):
                phone = f"+1202555{user.id % 10_000:04d}"  # a valid, unassigned US number
                return {"message": (await send_contact(sandbox, bot, user, phone)).to_api()}
            if button.get("request_location"):
                return {
                    "message": (await send_location(sandbox, bot, user, 51.5007, -0.1246)).to_api()
                }
            if button.get("web_app"):
                return {"open": open_web_app(sandbox, bot, user, button["web_app"]["url"])}
            message = await send_text(sandbox, bot, user, label)
            if keyboard.get("one_time_keyboard"):
                chat.reply_keyboard = None
            return {"message": message.to_api()}
    raise ActionError(f"the keyboard has no button {label!r}")


def open_web_app(sandbox: Sandbox, bot: BotState, user: Account, url: str) -> str:
    """The launch URL for ``user``: launch data with its hash and its Ed25519 signature."""
    return launch_url(url, sign_init_data(bot.token, user, key=sandbox.launch_key))


async def pay(
    sandbox: Sandbox,
    bot: BotState,
    user: Account,
    chat: Chat | None = None,
    message_id: int | None = None,
    *,
    link: str | None = None,
    wait: float = PRE_CHECKOUT_TIMEOUT,
) -> dict[str, Any]:
    """Pay an invoice message or link: pre-checkout query, the bot's answer within 10 s,
    then the successful_payment message. Returns what happened."""
    invoice = _invoice(bot, chat, message_id, link)
    chat = chat or sandbox.private_chat(bot, user)
    _ensure_not_blocked(bot, user, chat)
    query = _pending(sandbox, user, bot.pre_checkout_queries)
    await sandbox.push_update(
        bot,
        "pre_checkout_query",
        {
            "id": query.id,
            "from": user.to_api(),
            "currency": invoice.currency,
            "total_amount": invoice.total_amount,
            "invoice_payload": invoice.payload,
        },
    )
    try:
        answer = await asyncio.wait_for(asyncio.shield(query.answer), wait)
    except TimeoutError:
        return {
            "status": "failed",
            "reason": "the bot did not answer the pre-checkout query in time",
        }
    finally:
        bot.pre_checkout_queries.pop(query.id, None)
    if not answer["ok"]:
        return {"status": "declined", "reason": answer["error_message"]}
    charge = Charge(
        telegram_payment_charge_id=("stxn" if invoice.currency == "XTR" else "tpc")
        + secrets.token_hex(12),
        provider_payment_charge_id=""
        if invoice.currency == "XTR"
        else "prov_" + secrets.token_hex(8),
        user_id=user.id,
        currency=invoice.currency,
        total_amount=invoice.total_amount,
        payload=invoice.payload,
        date=now(),
    )
    bot.charges[charge.telegram_payment_charge_id] = charge
    if invoice.currency == "XTR":
        bot.star_transactions.append(
            {
                "id": charge.telegram_payment_charge_id,
                "amount": charge.total_amount,
                "date": charge.date,
                "source": {
                    "type": "user",
                    "transaction_type": "invoice_payment",
                    "user": user.to_api(),
                    "invoice_payload": charge.payload,
                },
            }
        )
    message = await _user_message(
        sandbox,
        bot,
        user,
        chat,
        extra={
            "successful_payment": {
                "currency": charge.currency,
                "total_amount": charge.total_amount,
                "invoice_payload": charge.payload,
                "telegram_payment_charge_id": charge.telegram_payment_charge_id,
                "provider_payment_charge_id": charge.provider_payment_charge_id,
            }
        },
    )
    if message_id is not None and chat.messages.get(message_id):
        chat.messages[message_id].private["paid"] = True
    return {
        "status": "paid",
        "charge_id": charge.telegram_payment_charge_id,
        "message": message.to_api(),
    }


def _invoice(bot: BotState, chat: Chat | None, message_id: int | None, link: str | None) -> Invoice:
    if link is not None:
        linked = bot.invoice_links.get(link.rsplit("$", 1)[-1])
        if linked is None:
            raise ActionError("no such invoice link")
        return linked
    if chat is None or message_id is None:
        raise ActionError("give an invoice message or an invoice link")
    message = chat.messages.get(message_id)
    if message is None or "invoice" not in message.private:
        raise ActionError(f"message {message_id} is not an invoice")
    if message.private.get("paid"):
        raise ActionError("this invoice is already paid")
    invoice: Invoice = message.private["invoice"]
    return invoice


async def set_blocked(sandbox: Sandbox, bot: BotState, user: Account, blocked: bool) -> None:
    """Block or unblock the bot; the bot hears about it as a my_chat_member update."""
    if (user.id in bot.blocked_by) == blocked:
        return
    chat = sandbox.private_chat(bot, user)
    old, new = ("member", "kicked") if blocked else ("kicked", "member")
    if blocked:
        bot.blocked_by.add(user.id)
    else:
        bot.blocked_by.discard(user.id)
    member = {"user": bot.account.to_api()}
    await sandbox.push_update(
        bot,
        "my_chat_member",
        {
            "chat": chat.to_api(),
            "from": user.to_api(),
            "date": now(),
            "old_chat_member": {
                "status": old,
                **member,
                **({"until_date": 0} if old == "kicked" else {}),
            },
            "new_chat_member": {
                "status": new,
                **member,
                **({"until_date": 0} if new == "kicked" else {}),
            },
        },
    )
