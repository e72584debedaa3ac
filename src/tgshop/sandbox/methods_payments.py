"""Bot API: invoices, pre-checkout answers, Telegram Stars."""

from __future__ import annotations

import secrets
import time
from typing import Any

from tgshop.sandbox import markup
from tgshop.sandbox.core import Sandbox
from tgshop.sandbox.errors import bad_request
from tgshop.sandbox.methods_messages import writable_chat
from tgshop.sandbox.params import Params
from tgshop.sandbox.state import BotState, Invoice

PRE_CHECKOUT_TIMEOUT = 10.0


def read_invoice(params: Params) -> Invoice:
    title = params.str("title", required=True) or ""
    description = params.str("description", required=True) or ""
    payload = params.str("payload", required=True) or ""
    currency = (params.str("currency", required=True) or "").upper()
    provider_token = params.str("provider_token") or ""
    prices = params.json("prices")
    if not 1 <= len(title) <= 32:
        raise bad_request("INVOICE_TITLE_INVALID" if title else "title is empty")
    if not 1 <= len(description) <= 255:
        raise bad_request("INVOICE_DESCRIPTION_INVALID")
    if not 1 <= len(payload.encode()) <= 128:
        raise bad_request("INVOICE_PAYLOAD_INVALID")
    if len(currency) != 3 or not currency.isalpha():
        raise bad_request("CURRENCY_INVALID")
    if (
        not isinstance(prices, list)
        or not prices
        or not all(
            isinstance(p, dict)
            and isinstance(p.get("label"), str)
            and isinstance(p.get("amount"), int)
            for p in prices
        )
    ):
        raise bad_request("can't parse prices JSON object")
    if currency == "XTR":
        if provider_token:
            raise bad_request("provider_token must be empty for payments in Telegram Stars")
        if len(prices) != 1:
            raise bad_request(
                "STARS_INVOICE_INVALID: exactly one price is allowed for Telegram Stars"
            )
    elif not provider_token:
        raise bad_request("PAYMENT_PROVIDER_INVALID")
    invoice = Invoice(title, description, payload, currency, prices, provider_token)
    if invoice.total_amount <= 0:
        raise bad_request("TOTAL_AMOUNT_INVALID")
    return invoice


async def send_invoice(sandbox: Sandbox, bot: BotState, params: Params) -> dict[str, Any]:
    chat = writable_chat(sandbox, bot, params)
    invoice = read_invoice(params)
    inline = markup.inline_keyboard(params.json("reply_markup"))
    if inline is None:
        pay_text = f"Pay ⭐️{invoice.total_amount}" if invoice.currency == "XTR" else "Pay"
        inline = {"inline_keyboard": [[{"text": pay_text, "pay": True}]]}
    elif not inline["inline_keyboard"][0] or "pay" not in inline["inline_keyboard"][0][0]:
        raise bad_request("REPLY_MARKUP_BUY_EMPTY: the first button must be a Pay button")
    message = await sandbox.add_message(
        chat,
        bot.account,
        reply_markup=inline,
        extra={
            "invoice": {
                "title": invoice.title,
                "description": invoice.description,
                "start_parameter": params.str("start_parameter") or "",
                "currency": invoice.currency,
                "total_amount": invoice.total_amount,
            }
        },
        private={"invoice": invoice},
    )
    return message.to_api()


async def create_invoice_link(sandbox: Sandbox, bot: BotState, params: Params) -> str:
    invoice = read_invoice(params)
    slug = secrets.token_urlsafe(12)
    bot.invoice_links[slug] = invoice
    return f"https://t.me/${slug}"


async def answer_pre_checkout_query(sandbox: Sandbox, bot: BotState, params: Params) -> bool:
    query_id = params.str("pre_checkout_query_id", required=True) or ""
    query = bot.pre_checkout_queries.get(query_id)
    if (
        query is None
        or query.answer.done()
        or time.monotonic() - query.created > PRE_CHECKOUT_TIMEOUT
    ):
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    ok = params.bool("ok")
    error = params.str("error_message")
    if not ok and not error:
        raise bad_request("error_message is required when ok is false")
    query.answer.set_result({"ok": ok, "error_message": error})
    return True


async def refund_star_payment(sandbox: Sandbox, bot: BotState, params: Params) -> bool:
    user_id = params.int("user_id", required=True)
    charge_id = params.str("telegram_payment_charge_id", required=True) or ""
    charge = bot.charges.get(charge_id)
    if charge is None or charge.user_id != user_id or charge.currency != "XTR":
        raise bad_request("CHARGE_NOT_FOUND")
    if charge.refunded:
        raise bad_request("CHARGE_ALREADY_REFUNDED")
    charge.refunded = True
    user = sandbox.user(charge.user_id)
    bot.star_transactions.append(
        {
            "id": charge_id,
            "amount": charge.total_amount,
            "date": int(time.time()),
            "receiver": {
                "type": "user",
                "transaction_type": "invoice_payment",
                "user": user.to_api(),
            },
        }
    )
    chat = bot.chats.get(user.id)
    if chat is not None:
        await sandbox.add_message(
            chat,
            bot.account,
            extra={
                "refunded_payment": {
                    "currency": "XTR",
                    "total_amount": charge.total_amount,
                    "invoice_payload": charge.payload,
                    "telegram_payment_charge_id": charge_id,
                }
            },
        )
    return True


async def get_star_transactions(sandbox: Sandbox, bot: BotState, params: Params) -> dict[str, Any]:
    offset = max(params.int("offset", 0) or 0, 0)
    limit = params.int("limit", 100) or 100
    if not 1 <= limit <= 100:
        raise bad_request("limit must be between 1 and 100")
    return {"transactions": bot.star_transactions[offset : offset + limit]}
