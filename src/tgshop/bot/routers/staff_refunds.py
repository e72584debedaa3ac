"""Staff deciding refunds in Telegram.

- The manager chat's refund card (drawn by jobs/refund_jobs.py) has three buttons: refund
  what was asked, another amount (the bot asks the staff member for it by name), decline
  (the bot asks for the reason the customer will read). Only staff may press them; after a
  decision the card is redrawn without buttons, saying who decided. A refund someone else
  decided meanwhile is refused with an alert and the card shows what happened.
- ``/refundorder <order> [amount] <reason>`` (staff, any chat): refund an order without a
  request, in full or for the amount; no policy window applies.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, ForceReply, Message

from tgshop.bot.routers.refund_request import refusal_text
from tgshop.bot.routers.staff import IsStaff
from tgshop.bot.staff_callbacks import RefundDecision
from tgshop.bot.staff_presses import mention, redraw_card, staff_card
from tgshop.domain.errors import ConcurrentChange, InvalidRequest, NotFound
from tgshop.domain.money import Money
from tgshop.i18n import DEFAULT_LOCALE
from tgshop.i18n.translator import Translations
from tgshop.jobs.refund_jobs import format_refund_card, refund_buttons
from tgshop.services.refund_requests import RefundCard, RefundRefused
from tgshop.services.users import UserView

if TYPE_CHECKING:
    from tgshop.app import Container


class DecideRefund(StatesGroup):
    amount = State()
    reason = State()


def staff_refunds_router(container: Container) -> Router:
    router = Router(name="staff_refunds")
    requests = container.refund_requests
    staff = container.staff
    card_t = container.translator.get(DEFAULT_LOCALE)
    currency = container.settings.shop.currency

    async def draw(bot: Bot, chat_id: int, message_id: int, card: RefundCard) -> None:
        text = format_refund_card(card, card_t)
        buttons = refund_buttons(card, card_t)
        await redraw_card(bot, (chat_id, message_id), text, buttons, refund_id=card.id)

    async def redraw(bot: Bot, where: tuple[int, int], refund_id: int) -> RefundCard | None:
        try:
            card = await requests.card(refund_id)
        except NotFound:
            return None
        await draw(bot, *where, card)
        return card

    def decided_text(t: Translations, card: RefundCard | None) -> str:
        if card is None:
            return t.gettext("staff.alert.not_found")
        who = card.decided_by or "—"
        return t.gettext("staff.refund.already", number=card.number, who=who)

    @router.callback_query(RefundDecision.filter())
    async def decide(
        query: CallbackQuery,
        callback_data: RefundDecision,
        bot: Bot,
        customer: UserView,
        state: FSMContext,
        t: Translations,
    ) -> None:
        where = await staff_card(query, staff, t)
        if where is None:
            return
        refund_id = callback_data.refund_id
        if callback_data.action in ("part", "no"):
            try:
                card = await requests.card(refund_id)
            except NotFound:
                await query.answer(t.gettext("staff.alert.not_found"), show_alert=True)
                return
            step = DecideRefund.amount if callback_data.action == "part" else DecideRefund.reason
            await state.set_state(step)
            await state.set_data({"refund_id": refund_id, "where": list(where)})
            who = mention(query.from_user.id, customer.display_name)
            key = (
                "staff.refund.ask_amount"
                if step is DecideRefund.amount
                else "staff.refund.ask_reason"
            )
            await bot.send_message(
                where[0],
                t.gettext(
                    key, mention=who, number=escape(card.number), held=escape(str(card.held))
                ),
                reply_markup=ForceReply(selective=True),
            )
            await query.answer()
            return
        if callback_data.action != "all":
            await query.answer(t.gettext("staff.alert.outdated"), show_alert=True)
            return
        try:
            card = await requests.approve(refund_id, customer.id)
        except (ConcurrentChange, NotFound):
            now = await redraw(bot, where, refund_id)
            await query.answer(decided_text(t, now), show_alert=True)
            return
        await query.answer(
            t.gettext("staff.refund.toast.approved", number=card.number, amount=str(card.amount))
        )
        await draw(bot, *where, card)

    async def finish(
        message: Message,
        bot: Bot,
        state: FSMContext,
        t: Translations,
        approve: bool,
        customer: UserView,
    ) -> None:
        data = await state.get_data()
        try:
            refund_id = int(data["refund_id"])
            where = (int(data["where"][0]), int(data["where"][1]))
        except (KeyError, TypeError, ValueError, IndexError):
            await state.clear()
            await message.reply(t.gettext("staff.alert.outdated"))
            return
        text = message.text or ""
        try:
            if approve:
                card = await requests.approve(refund_id, customer.id, text)
            else:
                card = await requests.reject(refund_id, customer.id, text)
        except (ConcurrentChange, NotFound):
            await state.clear()
            await message.reply(decided_text(t, await redraw(bot, where, refund_id)))
            return
        except InvalidRequest as bad:  # a bad amount or reason: ask again
            await message.reply(
                t.gettext("staff.refund.bad_answer", problem=escape(str(bad))),
                reply_markup=ForceReply(selective=True),
            )
            return
        await state.clear()
        key = "staff.refund.done.approved" if approve else "staff.refund.done.rejected"
        await message.reply(
            t.gettext(key, number=escape(card.number), amount=escape(str(card.amount)))
        )
        await draw(bot, *where, card)

    @router.message(DecideRefund.amount, F.text, ~F.text.startswith("/"))
    async def amount(
        message: Message, bot: Bot, state: FSMContext, t: Translations, customer: UserView
    ) -> None:
        await finish(message, bot, state, t, True, customer)

    @router.message(DecideRefund.reason, F.text, ~F.text.startswith("/"))
    async def reason(
        message: Message, bot: Bot, state: FSMContext, t: Translations, customer: UserView
    ) -> None:
        await finish(message, bot, state, t, False, customer)

    @router.message(Command("refundorder"), IsStaff(staff))
    async def refund_order(
        message: Message, command: CommandObject, t: Translations, customer: UserView
    ) -> None:
        """``/refundorder <order> [amount] <reason>``: refund without a request."""
        parts = (command.args or "").split(maxsplit=2)
        if len(parts) < 2:
            await message.answer(t.gettext("staff.refundorder.usage"))
            return
        number, rest = parts[0], parts[1:]
        amount: str | None = None
        try:
            Money.parse(rest[0], currency)
            amount, reason = rest[0], " ".join(rest[1:])
        except ValueError:
            reason = " ".join(rest)
        try:
            card = await requests.issue(number, amount, reason, customer.id)
        except NotFound:
            await message.answer(t.gettext("staff.markpaid.unknown", number=escape(number)))
            return
        except RefundRefused as refused:
            await message.answer(refusal_text(t, refused))
            return
        except InvalidRequest as bad:
            await message.answer(t.gettext("staff.refund.bad_answer", problem=escape(str(bad))))
            return
        await message.answer(
            t.gettext(
                "staff.refundorder.done",
                number=escape(card.number),
                amount=escape(str(card.amount)),
            )
        )

    return router
