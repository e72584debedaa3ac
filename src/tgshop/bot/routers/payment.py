"""Paying for an order in the chat: the choice of method, a Telegram Stars invoice or the
wallet balance, Telegram's pre-checkout question, and the payment itself.

The successful_payment message is money received: this router comes before every other
(no flow or fallback may swallow it), and the blocking, throttling, maintenance and idle
middlewares let it through (see ``carries_money``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
)

from tgshop.bot.catalog_texts import e
from tgshop.domain.errors import InvalidRequest, NotFound
from tgshop.domain.money import Money
from tgshop.domain.payments import Gateway, NotPayable
from tgshop.i18n.payment_texts import invoice_texts
from tgshop.i18n.translator import Translations
from tgshop.services.ledger import InsufficientFunds
from tgshop.services.order_views import OrderView
from tgshop.services.payments import Invoice, Outcome, ProviderReport, Redirect
from tgshop.services.ports import ProviderError
from tgshop.services.users import UserView

if TYPE_CHECKING:
    from tgshop.app import Container

# Callback codes per way of paying (callback data is short).
_CODES = {
    Gateway.STARS: "s",
    Gateway.TELEGRAM: "c",
    Gateway.YOOKASSA: "y",
    Gateway.CRYPTOBOT: "x",
    Gateway.WALLET: "w",
}
_GATEWAYS = {code: gateway for gateway, code in _CODES.items()}


class PayOrder(CallbackData, prefix="py"):
    order_id: int
    # A code of _CODES; "m" asks how to pay what the balance leaves, "m" + a code pays
    # that rest through the gateway (a mixed payment).
    method: str


class TopUp(CallbackData, prefix="tu"):
    amount: int  # minor units of the shop currency
    method: str  # a code of _CODES, or "" to ask for one


def payment_choice(
    t: Translations, order: OrderView, balance: Money | None, methods: list[Gateway]
) -> InlineKeyboardMarkup | None:
    """The ways this order can be paid now, one button each; None when there is none (the
    order is then paid on delivery, confirmed by staff). The balance is offered when it is
    known: alone when it covers the total, with a gateway for the rest when it covers part."""
    rows = []
    gateways = [g for g in methods if g in _CODES and g is not Gateway.WALLET]
    for gateway in methods:
        if gateway is Gateway.WALLET:
            if balance is None or not balance.amount >= order.total.amount > 0:
                continue
            text = t.gettext("bot.pay.wallet_button", balance=str(balance))
        elif gateway in _CODES:
            text = t.gettext(f"bot.pay.button.{gateway.value}")
        else:
            continue
        data = PayOrder(order_id=order.id, method=_CODES[gateway]).pack()
        rows.append([InlineKeyboardButton(text=text, callback_data=data)])
    partial = balance is not None and 0 < balance.amount < order.total.amount
    if partial and Gateway.WALLET in methods and gateways:
        text = t.gettext("bot.pay.mixed_button", balance=str(balance))
        data = PayOrder(order_id=order.id, method="m").pack()
        rows.append([InlineKeyboardButton(text=text, callback_data=data)])
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def _method(code: str) -> tuple[Gateway, bool]:
    """The gateway of a PayOrder code and whether the balance pays part."""
    return _GATEWAYS[code[-1]], code.startswith("m")


def payment_router(container: Container) -> Router:
    router = Router(name="payment")
    payments = container.payments
    translator = container.translator
    # Top-ups through every gateway but the wallet itself (Stars needs a Stars rate).
    topup_methods = [
        gateway
        for gateway in payments.methods()
        if gateway in (Gateway.TELEGRAM, Gateway.YOOKASSA, Gateway.CRYPTOBOT)
        or (gateway is Gateway.STARS and container.settings.payments.stars_rate is not None)
    ]

    async def send_invoice(
        bot: Bot, customer: UserView, invoice: Invoice, *, title: str, description: str, label: str
    ) -> None:
        """Telegram's invoice for a payment we opened: Stars (``XTR``) with an empty provider
        token, anything else through the card provider token."""
        stars = invoice.currency == "XTR"
        token = None if stars else payments.card_token(invoice.mode)
        await bot.send_invoice(
            chat_id=customer.telegram_id,
            title=title[:32],
            description=description[:255],
            payload=invoice.payload,
            currency=invoice.currency,
            prices=[LabeledPrice(label=label, amount=invoice.amount)],
            provider_token=token or "",
        )

    async def refuse(query: CallbackQuery, t: Translations, error: Exception) -> None:
        if isinstance(error, NotPayable):
            text = t.gettext(f"bot.pay.not_payable.{error.reason}")
        elif isinstance(error, ProviderError):
            text = t.gettext("bot.pay.provider_down")
        elif isinstance(error, NotFound):
            text = t.gettext("bot.pay.no_such_order")
        else:
            text = t.gettext("bot.topup.refused")
        await query.answer(text, show_alert=True)

    @router.callback_query(PayOrder.filter(F.method == "m"))
    async def choose_rest(
        query: CallbackQuery, callback_data: PayOrder, customer: UserView, t: Translations, bot: Bot
    ) -> None:
        """Use the balance for part: how to pay the rest."""
        try:
            order = await container.orders.get(callback_data.order_id, user_id=customer.id)
        except NotFound as error:
            await refuse(query, t, error)
            return
        balance = await payments.balance(customer.id)
        if not 0 < balance.amount < order.total.amount:
            await query.answer(t.gettext("bot.pay.not_payable.no_balance"), show_alert=True)
            return
        rest = Money(order.total.amount - balance.amount, order.total.currency)
        rows = [
            [
                InlineKeyboardButton(
                    text=t.gettext(f"bot.pay.button.{gateway.value}"),
                    callback_data=PayOrder(order_id=order.id, method="m" + _CODES[gateway]).pack(),
                )
            ]
            for gateway in payments.methods()
            if gateway in _CODES and gateway is not Gateway.WALLET
        ]
        await query.answer()
        await bot.send_message(
            customer.telegram_id,
            t.gettext("bot.pay.mixed_choose", balance=e(balance), rest=e(rest)),
            reply_markup=InlineKeyboardMarkup(inline_keyboard=rows),
        )

    @router.callback_query(PayOrder.filter(F.method.in_({"s", "c", "ms", "mc"})))
    async def pay_by_invoice(
        query: CallbackQuery, callback_data: PayOrder, customer: UserView, t: Translations, bot: Bot
    ) -> None:
        """Telegram's own invoice: Stars, or cards through the provider token."""
        gateway, mixed = _method(callback_data.method)
        order_id = callback_data.order_id
        try:
            if gateway is Gateway.STARS:
                invoice = await payments.stars_invoice(order_id, customer.id, use_balance=mixed)
            else:
                invoice = await payments.card_invoice(order_id, customer.id, use_balance=mixed)
        except (NotFound, NotPayable) as error:
            await refuse(query, t, error)
            return
        await query.answer()
        title, description, label = invoice_texts(t, invoice)
        await send_invoice(
            bot, customer, invoice, title=title, description=description, label=label
        )

    @router.callback_query(PayOrder.filter(F.method.in_({"y", "x", "my", "mx"})))
    async def pay_at_provider(
        query: CallbackQuery, callback_data: PayOrder, customer: UserView, t: Translations, bot: Bot
    ) -> None:
        """A payment page at CryptoBot or YooKassa, behind a link button."""
        gateway, mixed = _method(callback_data.method)
        try:
            redirect = await payments.provider_checkout(
                callback_data.order_id,
                customer.id,
                gateway,
                lambda number: t.gettext("bot.pay.invoice_description", number=number),
                use_balance=mixed,
            )
        except (NotFound, NotPayable, ProviderError) as error:
            await refuse(query, t, error)
            return
        await query.answer()
        text = t.gettext(
            f"bot.pay.redirect.{gateway.value}",
            number=e(redirect.order_number),
            amount=e(redirect.amount),
        )
        if redirect.from_balance is not None:
            text += "\n" + t.gettext("bot.pay.mixed_note", balance=e(redirect.from_balance))
        await send_link(bot, customer, t, text, redirect)

    async def send_link(
        bot: Bot, customer: UserView, t: Translations, text: str, redirect: Redirect
    ) -> None:
        """A provider's payment page behind a link button."""
        label = t.gettext("bot.pay.open_button", amount=str(redirect.amount))
        button = InlineKeyboardButton(text=label, url=redirect.url)
        await bot.send_message(
            customer.telegram_id,
            text,
            reply_markup=InlineKeyboardMarkup(inline_keyboard=[[button]]),
        )

    @router.callback_query(PayOrder.filter(F.method == _CODES[Gateway.WALLET]))
    async def pay_from_balance(
        query: CallbackQuery, callback_data: PayOrder, customer: UserView, t: Translations
    ) -> None:
        try:
            await payments.pay_from_wallet(callback_data.order_id, customer.id)
        except NotFound:
            await query.answer(t.gettext("bot.pay.no_such_order"), show_alert=True)
            return
        except InsufficientFunds as short:
            balance = Money(short.available, short.currency)
            await query.answer(
                t.gettext("bot.pay.balance_short", balance=str(balance)), show_alert=True
            )
            return
        except NotPayable as refused:
            await query.answer(t.gettext(f"bot.pay.not_payable.{refused.reason}"), show_alert=True)
            return
        await query.answer(t.gettext("bot.pay.paid_from_balance"))
        if isinstance(query.message, Message):
            await query.message.edit_reply_markup(reply_markup=None)

    def topup_buttons(t: Translations) -> InlineKeyboardMarkup | None:
        if not topup_methods:
            return None
        rows = [
            [
                InlineKeyboardButton(
                    text=t.gettext("bot.topup.amount_button", amount=str(amount)),
                    callback_data=TopUp(amount=amount.amount, method="").pack(),
                )
            ]
            for amount in payments.topup_amounts()
        ]
        return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None

    @router.callback_query(TopUp.filter(F.method == ""))
    async def choose_topup_method(
        query: CallbackQuery, callback_data: TopUp, customer: UserView, t: Translations, bot: Bot
    ) -> None:
        amount = Money(callback_data.amount, container.settings.shop.currency)
        rows = [
            [
                InlineKeyboardButton(
                    text=t.gettext(f"bot.pay.button.{gateway.value}"),
                    callback_data=TopUp(amount=amount.amount, method=_CODES[gateway]).pack(),
                )
            ]
            for gateway in topup_methods
        ]
        await query.answer()
        await bot.send_message(
            customer.telegram_id,
            t.gettext("bot.topup.choose", amount=e(amount)),
            reply_markup=InlineKeyboardMarkup(inline_keyboard=rows),
        )

    @router.callback_query(TopUp.filter(F.method.in_({"y", "x"})))
    async def top_up_at_provider(
        query: CallbackQuery, callback_data: TopUp, customer: UserView, t: Translations, bot: Bot
    ) -> None:
        gateway = _GATEWAYS[callback_data.method]
        amount = Money(callback_data.amount, container.settings.shop.currency)
        description = t.gettext("bot.topup.invoice_description", amount=str(amount))
        try:
            redirect = await payments.topup_checkout(
                customer.id, gateway, callback_data.amount, description
            )
        except (NotPayable, InvalidRequest, ProviderError) as error:
            await refuse(query, t, error)
            return
        await query.answer()
        text = t.gettext(f"bot.topup.redirect.{gateway.value}", amount=e(amount))
        await send_link(bot, customer, t, text, redirect)

    @router.callback_query(TopUp.filter(F.method.in_({"s", "c"})))
    async def top_up(
        query: CallbackQuery, callback_data: TopUp, customer: UserView, t: Translations, bot: Bot
    ) -> None:
        gateway = _GATEWAYS[callback_data.method]
        try:
            invoice = await payments.topup_invoice(customer.id, gateway, callback_data.amount)
        except (NotPayable, InvalidRequest) as error:
            await refuse(query, t, error)
            return
        await query.answer()
        amount = Money(callback_data.amount, container.settings.shop.currency)
        await send_invoice(
            bot,
            customer,
            invoice,
            title=t.gettext("bot.topup.invoice_title"),
            description=t.gettext("bot.topup.invoice_description", amount=str(amount)),
            label=str(amount),
        )

    @router.message(Command("balance"))
    async def show_balance(message: Message, customer: UserView, t: Translations) -> None:
        wallet = await payments.wallet(customer.id)
        lines = [t.gettext("bot.balance.title", balance=e(wallet.balance))]
        if not wallet.lines:
            lines.append(t.gettext("bot.balance.empty"))
        for line in wallet.lines:
            kind = t.gettext(f"bot.balance.kind.{line.kind}")
            sign = "+" if line.amount > 0 else "−"
            amount = Money(abs(line.amount), line.currency)
            lines.append(f"{line.created_at:%Y-%m-%d} · {e(kind)} · {sign}{e(amount)}")
        await message.answer("\n".join(lines), reply_markup=topup_buttons(t))

    @router.pre_checkout_query()
    async def pre_checkout(query: PreCheckoutQuery) -> None:
        refusal = await payments.pre_checkout(
            query.invoice_payload, query.from_user.id, query.currency, query.total_amount
        )
        if refusal is None:
            await query.answer(ok=True)
            return
        t = translator.get(query.from_user.language_code)
        await query.answer(ok=False, error_message=t.gettext(f"bot.pay.refused.{refusal.value}"))

    @router.message(F.successful_payment)
    async def paid(message: Message, t: Translations, customer: UserView) -> None:
        payment = message.successful_payment
        assert payment is not None and message.from_user is not None
        confirmation = await payments.confirm(
            ProviderReport(
                gateway=Gateway.STARS if payment.currency == "XTR" else Gateway.TELEGRAM,
                payload=payment.invoice_payload,
                charge_id=payment.telegram_payment_charge_id,
                provider_payment_id=payment.provider_payment_charge_id or None,
                amount=payment.total_amount,
                currency=payment.currency,
                telegram_user_id=message.from_user.id,
                raw=payment.model_dump(mode="json", exclude_none=True),
            )
        )
        if confirmation.outcome is Outcome.TOPPED_UP:
            balance = await payments.balance(customer.id)
            await message.answer(t.gettext("bot.topup.done", balance=e(balance)))
        if confirmation.outcome is Outcome.PAID and confirmation.order_id is not None:
            order = await container.orders.get(confirmation.order_id)
            amount = Money(payment.total_amount, payment.currency)
            await message.answer(
                t.gettext("bot.pay.received", number=e(order.number), amount=e(amount))
            )
        # Money that could not go to its order: the customer hears what became of it from
        # the outbox job written with it (the same message whichever gateway brought it).

    return router
