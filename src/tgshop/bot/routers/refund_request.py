"""Asking for a refund in the chat.

``/refund`` (or ``/refund A00012 A00015``) or the "Ask for a refund" button of a paid order
in My orders. The bot first checks the orders (so a customer is told at once that an order
is outside its refund period, say), then asks for the reason, then hands the request to the
shop (services/refund_requests.py) and says what was asked for. Every refusal names the
order and why. /cancel leaves the flow at any step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from tgshop.bot.catalog_texts import e
from tgshop.bot.screens import answer_text
from tgshop.domain.errors import InvalidRequest, NotFound
from tgshop.i18n.translator import Translations
from tgshop.services.refund_requests import RefundRefused, parse_order_numbers
from tgshop.services.users import UserView

if TYPE_CHECKING:
    from tgshop.app import Container


class AskRefund(StatesGroup):
    numbers = State()
    reason = State()


class OrderRefund(CallbackData, prefix="orf"):
    """ "Ask for a refund" under order ``order_id`` in My orders."""

    order_id: int


def refusal_text(t: Translations, refused: RefundRefused) -> str:
    """One line per order that cannot be asked back, saying why."""
    lines = [t.gettext("bot.refund.refused")]
    for item in refused.refused:
        params = {"number": e(item.number)}
        if item.closed_at is not None:
            params["date"] = e(item.closed_at.strftime("%Y-%m-%d"))
        lines.append(t.gettext(f"bot.refund.refused.{item.reason.value}", **params))
    return "\n".join(lines)


def refund_request_router(container: Container) -> Router:
    router = Router(name="refund_request")
    router.message.filter(F.chat.type == ChatType.PRIVATE)
    requests = container.refund_requests

    async def take_numbers(
        message: Message, text: str, customer: UserView, state: FSMContext, t: Translations
    ) -> None:
        try:
            numbers = parse_order_numbers(text)
            await requests.check(customer.id, numbers)
        except RefundRefused as refused:
            await message.answer(refusal_text(t, refused))
            return
        except InvalidRequest as bad:
            await message.answer(t.gettext("bot.refund.bad_numbers", problem=e(str(bad))))
            return
        await state.set_state(AskRefund.reason)
        await state.set_data({"numbers": numbers})
        await message.answer(t.gettext("bot.refund.ask_reason", numbers=e(", ".join(numbers))))

    @router.message(Command("refund"))
    async def start(
        message: Message,
        command: CommandObject,
        customer: UserView,
        state: FSMContext,
        t: Translations,
    ) -> None:
        if command.args:
            await take_numbers(message, command.args, customer, state, t)
            return
        await state.set_state(AskRefund.numbers)
        await state.set_data({})
        await message.answer(t.gettext("bot.refund.ask_numbers"))

    @router.callback_query(OrderRefund.filter())
    async def from_my_orders(
        query: CallbackQuery,
        callback_data: OrderRefund,
        customer: UserView,
        state: FSMContext,
        t: Translations,
    ) -> None:
        try:
            order = await container.orders.get(callback_data.order_id, user_id=customer.id)
        except NotFound:
            await query.answer(t.gettext("bot.orders.not_found"), show_alert=True)
            return
        try:
            await requests.check(customer.id, [order.number])
        except RefundRefused as refused:
            await query.answer(answer_text(refusal_text(t, refused)), show_alert=True)
            return
        await query.answer()
        await state.set_state(AskRefund.reason)
        await state.set_data({"numbers": [order.number]})
        if query.message is not None:
            await query.message.answer(t.gettext("bot.refund.ask_reason", numbers=e(order.number)))

    @router.message(AskRefund.numbers, F.text, ~F.text.startswith("/"))
    async def numbers(
        message: Message, customer: UserView, state: FSMContext, t: Translations
    ) -> None:
        await take_numbers(message, message.text or "", customer, state, t)

    @router.message(AskRefund.reason, F.text, ~F.text.startswith("/"))
    async def reason(
        message: Message, customer: UserView, state: FSMContext, t: Translations
    ) -> None:
        numbers = (await state.get_data()).get("numbers")
        if not isinstance(numbers, list) or not numbers:  # state of an older version
            await state.clear()
            await message.answer(t.gettext("bot.refund.ask_numbers"))
            await state.set_state(AskRefund.numbers)
            return
        try:
            asked = await requests.request(
                customer.id, [str(n) for n in numbers], message.text or ""
            )
        except RefundRefused as refused:  # the order changed while they were typing
            await state.clear()
            await message.answer(refusal_text(t, refused))
            return
        except InvalidRequest:
            await message.answer(t.gettext("bot.refund.bad_reason"))
            return
        await state.clear()
        lines = [t.gettext("bot.refund.sent")]
        lines += [
            t.gettext("bot.refund.sent_line", number=e(card.number), amount=e(card.amount))
            for card in asked
        ]
        await message.answer("\n".join(lines))

    @router.message(AskRefund.numbers, ~F.text)
    @router.message(AskRefund.reason, ~F.text)
    async def not_text(message: Message, t: Translations) -> None:
        await message.answer(t.gettext("bot.refund.not_text"))

    return router
