"""The staff side in Telegram: the order buttons of the manager chat and ``/admin``.

- Order buttons (drawn by jobs/notify.py): only staff may press them, others get an alert and
  nothing changes. After every press the card is redrawn as the order is now, with only the
  buttons still allowed. A press on a stale card (the order moved on meanwhile) is refused
  with the reason. Cancel asks once more; Mark shipped asks the staff member for a tracking
  number (their answer in the same chat, kept in their FSM state for that chat; /cancel, of
  the flow router, stops it). A forged or unreadable button falls through to the fallback
  router's "out of date" alert.
- ``/payment <id>`` (staff, any chat): re-check one payment with its provider now;
  ``/markpaid <order> <note>``: money received by hand; ``/adjust <customer> <±amount>
  <reason>``: change a balance. Each is recorded with who did it and why.
- ``/admin`` in a private chat: today's figures and the maintenance switch. For anyone who
  is not staff the command is not handled at all, so it answers like any unknown command.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, Filter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, ForceReply, InlineKeyboardMarkup, Message

from tgshop.bot.staff_callbacks import (
    AdminRefresh,
    GatewayModeSwitch,
    MaintenanceSwitch,
    StaffOrderAction,
    StaffOrderShow,
)
from tgshop.bot.staff_presses import mention, redraw_card, staff_card
from tgshop.bot.staff_texts import admin_screen
from tgshop.domain.errors import ConcurrentChange, IllegalTransition, InvalidRequest, NotFound
from tgshop.domain.money import Money
from tgshop.domain.orders import OrderStatus
from tgshop.domain.payments import Gateway, NotPayable
from tgshop.i18n import DEFAULT_LOCALE
from tgshop.i18n.translator import Translations
from tgshop.jobs.notify import cancel_confirmation_buttons, format_new_order, manager_buttons
from tgshop.jobs.telegram_client import inline_keyboard
from tgshop.services.ledger import InsufficientFunds
from tgshop.services.ports import InlineButtons, ProviderError
from tgshop.services.staff import (
    InvalidTrackingNumber,
    NotStaff,
    OrderCard,
    StaffService,
    parse_tracking_number,
)
from tgshop.services.users import UserView

if TYPE_CHECKING:
    from tgshop.app import Container


class ShipOrder(StatesGroup):
    tracking_number = State()


class IsStaff(Filter):
    def __init__(self, staff: StaffService) -> None:
        self._staff = staff

    async def __call__(self, event: Message | CallbackQuery) -> bool:
        return event.from_user is not None and await self._staff.is_staff(event.from_user.id)


def _status(t: Translations, status: str) -> str:
    key = f"order.status.{status}"
    text = t.gettext(key)
    return status if text == key else text


def staff_router(container: Container) -> Router:
    router = Router(name="staff")
    staff = container.staff
    # The card is the manager chat's shared message: it reads the shop's default language,
    # as the new-order job wrote it; answers to one person use their own language.
    card_t = container.translator.get(DEFAULT_LOCALE)
    is_staff = IsStaff(staff)

    async def draw(
        bot: Bot, chat_id: int, message_id: int, card: OrderCard, buttons: InlineButtons
    ) -> None:
        text = format_new_order(card, card_t)
        await redraw_card(bot, (chat_id, message_id), text, buttons, order_id=card.id)

    async def redraw(bot: Bot, chat_id: int, message_id: int, order_id: int) -> OrderCard | None:
        try:
            card = await staff.order_card(order_id)
        except NotFound:
            return None
        await draw(bot, chat_id, message_id, card, manager_buttons(card, card_t))
        return card

    def refusal(t: Translations, exc: Exception, card: OrderCard | None) -> str:
        if card is None or isinstance(exc, NotFound):
            return t.gettext("staff.alert.not_found")
        status = _status(t, card.status)
        if isinstance(exc, IllegalTransition):
            return t.gettext("staff.alert.illegal", number=card.number, status=status)
        return t.gettext("staff.alert.changed", number=card.number, status=status)

    # ------------------------------------------------------------------ order buttons

    @router.callback_query(StaffOrderAction.filter())
    async def order_action(
        query: CallbackQuery,
        callback_data: StaffOrderAction,
        bot: Bot,
        customer: UserView,
        t: Translations,
        state: FSMContext,
    ) -> None:
        where = await staff_card(query, staff, t)
        if where is None:
            return
        chat_id, message_id = where
        try:
            card = await staff.order_card(callback_data.order_id)
        except NotFound:
            await query.answer(t.gettext("staff.alert.not_found"), show_alert=True)
            return
        target = callback_data.target
        if card.status is not callback_data.seen:
            await query.answer(refusal(t, ConcurrentChange(""), card), show_alert=True)
            await draw(bot, chat_id, message_id, card, manager_buttons(card, card_t))
            return
        if target is OrderStatus.CANCELLED and not callback_data.sure:
            await query.answer(t.gettext("staff.alert.confirm_cancel", number=card.number))
            await draw(bot, chat_id, message_id, card, cancel_confirmation_buttons(card, card_t))
            return
        if target is OrderStatus.SHIPPED:
            await ask_tracking_number(query, bot, customer, t, state, card, chat_id, message_id)
            return
        try:
            card = await staff.change_order_status(
                card.id, seen_status=callback_data.seen, target=target, by=customer
            )
        except NotStaff:
            await query.answer(t.gettext("staff.alert.only_staff"), show_alert=True)
            return
        except (ConcurrentChange, IllegalTransition, NotFound) as exc:
            now = await redraw(bot, chat_id, message_id, card.id)
            await query.answer(refusal(t, exc, now), show_alert=True)
            return
        await query.answer(
            t.gettext("staff.toast.done", number=card.number, status=_status(t, card.status))
        )
        await draw(bot, chat_id, message_id, card, manager_buttons(card, card_t))

    @router.callback_query(StaffOrderShow.filter())
    async def show_order(
        query: CallbackQuery, callback_data: StaffOrderShow, bot: Bot, t: Translations
    ) -> None:
        where = await staff_card(query, staff, t)
        if where is None:
            return
        shown = await redraw(bot, *where, callback_data.order_id)
        if shown is None:
            await query.answer(t.gettext("staff.alert.not_found"), show_alert=True)
        else:
            await query.answer()

    # ------------------------------------------------------------ the tracking number

    async def ask_tracking_number(
        query: CallbackQuery,
        bot: Bot,
        customer: UserView,
        t: Translations,
        state: FSMContext,
        card: OrderCard,
        chat_id: int,
        message_id: int,
    ) -> None:
        await state.set_state(ShipOrder.tracking_number)
        await state.set_data(
            {
                "order_id": card.id,
                "number": card.number,
                "seen": card.status.value,
                "card_chat_id": chat_id,
                "card_message_id": message_id,
            }
        )
        who = mention(query.from_user.id, customer.display_name)
        await bot.send_message(
            chat_id,
            t.gettext("staff.ship.prompt", mention=who, number=escape(card.number)),
            reply_markup=_tracking_reply(t),
        )
        await query.answer(t.gettext("staff.alert.send_tracking"))

    @router.message(ShipOrder.tracking_number, F.text, ~F.text.startswith("/"))
    async def tracking_number(
        message: Message, bot: Bot, state: FSMContext, customer: UserView, t: Translations
    ) -> None:
        text = message.text or ""
        try:
            tracking = parse_tracking_number(text)
        except InvalidTrackingNumber as exc:
            await message.reply(
                t.gettext(f"staff.ship.bad.{exc.problem.value}", length=len(text.strip())),
                reply_markup=_tracking_reply(t),
            )
            return
        data = await state.get_data()
        await state.clear()
        try:
            order_id = int(data["order_id"])
            seen = OrderStatus(data["seen"])
            where = (int(data["card_chat_id"]), int(data["card_message_id"]))
        except (KeyError, TypeError, ValueError):  # state from an older version: start again
            await message.reply(t.gettext("staff.alert.outdated"))
            return
        number = escape(str(data.get("number", "")))
        try:
            card = await staff.change_order_status(
                order_id,
                seen_status=seen,
                target=OrderStatus.SHIPPED,
                by=customer,
                tracking_number=tracking,
            )
        except NotStaff:
            await message.reply(t.gettext("staff.ship.not_staff"))
            return
        except (ConcurrentChange, IllegalTransition, NotFound):
            now = await redraw(bot, *where, order_id)
            if now is None:
                await message.reply(t.gettext("staff.alert.not_found"))
            else:
                status = escape(_status(t, now.status))
                await message.reply(t.gettext("staff.ship.failed", number=number, status=status))
            return
        if tracking is None:
            await message.reply(t.gettext("staff.ship.done_untracked", number=number))
        else:
            await message.reply(
                t.gettext("staff.ship.done", number=number, tracking_number=escape(tracking))
            )
        await draw(bot, *where, card, manager_buttons(card, card_t))

    @router.message(ShipOrder.tracking_number, ~F.text)
    async def tracking_number_not_text(message: Message, t: Translations) -> None:
        await message.reply(t.gettext("staff.ship.bad.not_text"), reply_markup=_tracking_reply(t))

    # ------------------------------------------------------------------------ /admin

    async def show_admin(t: Translations) -> tuple[str, InlineKeyboardMarkup | None]:
        stats = await container.sales_stats.today()
        maintenance = await container.maintenance.state()
        modes = await container.gateway_modes.all()
        text, buttons = admin_screen(
            t, container.settings.shop.name, stats, maintenance.enabled, modes
        )
        return text, inline_keyboard(buttons)

    # ------------------------------------------------------------------------ /payment

    @router.message(Command("payment"), is_staff)
    async def payment_check(message: Message, command: CommandObject, t: Translations) -> None:
        """``/payment <id>``: ask the payment's provider now, act on the answer, show both
        sides (what we held before, what we hold now, what the provider says)."""
        argument = (command.args or "").strip().lstrip("#")
        if not argument.isdigit():
            await message.answer(t.gettext("staff.payment.usage"))
            return
        try:
            check = await container.provider_payments.check(int(argument))
        except NotFound:
            await message.answer(t.gettext("staff.payment.unknown", id=escape(argument)))
            return
        except ProviderError as exc:
            await message.answer(t.gettext("staff.payment.no_answer", error=escape(str(exc))))
            return
        provider = (
            t.gettext(
                "staff.payment.provider",
                state=escape(check.provider.state.value),
                reason=escape(check.provider.reason or "—"),
            )
            if check.provider is not None
            else ""
        )
        await message.answer(
            t.gettext(
                "staff.payment.checked",
                id=check.payment_id,
                gateway=escape(check.gateway),
                before=escape(check.ours_before),
                now=escape(check.ours_now),
                provider=provider,
                result=t.gettext(f"staff.payment.result.{check.result}"),
            )
        )

    @router.message(Command("markpaid"), is_staff)
    async def mark_paid(
        message: Message, command: CommandObject, t: Translations, customer: UserView
    ) -> None:
        """``/markpaid <order number> <how the money came>``: money received by hand."""
        number, _, note = (command.args or "").strip().partition(" ")
        if not number or not note.strip():
            await message.answer(t.gettext("staff.markpaid.usage"))
            return
        try:
            await container.payments.mark_paid_by_staff(number, customer.id, note)
        except NotFound:
            await message.answer(t.gettext("staff.markpaid.unknown", number=escape(number)))
            return
        except NotPayable as refused:
            key = f"staff.markpaid.refused.{refused.reason}"
            await message.answer(t.gettext(key, number=escape(number.upper())))
            return
        except InvalidRequest:  # the note is too short or too long
            await message.answer(t.gettext("staff.markpaid.usage"))
            return
        await message.answer(t.gettext("staff.markpaid.done", number=escape(number.upper())))

    @router.message(Command("adjust"), is_staff)
    async def adjust_balance(
        message: Message, command: CommandObject, t: Translations, customer: UserView
    ) -> None:
        """``/adjust <Telegram id | order number> <+5.00 | -2.50> <reason>``."""
        parts = (command.args or "").split(maxsplit=2)
        if len(parts) < 3:
            await message.answer(t.gettext("staff.adjust.usage"))
            return
        who, amount, reason = parts
        try:
            done = await container.wallet_adjustments.adjust(who, amount, reason, customer.id)
        except NotFound:
            await message.answer(t.gettext("staff.adjust.unknown", customer=escape(who)))
            return
        except InsufficientFunds as short:
            balance = Money(short.available, short.currency)
            await message.answer(t.gettext("staff.adjust.short", balance=escape(str(balance))))
            return
        except InvalidRequest as refused:
            await message.answer(t.gettext("staff.adjust.refused", reason=escape(str(refused))))
            return
        sign = "+" if done.amount.amount > 0 else "−"
        await message.answer(
            t.gettext(
                "staff.adjust.done",
                customer=done.telegram_id,
                amount=f"{sign}{escape(str(Money(abs(done.amount.amount), done.amount.currency)))}",
                balance=escape(str(done.balance)),
            )
        )

    @router.message(Command("admin"), F.chat.type == ChatType.PRIVATE, is_staff)
    async def admin(message: Message, t: Translations) -> None:
        text, markup = await show_admin(t)
        await message.answer(text, reply_markup=markup)

    async def redraw_admin(query: CallbackQuery, t: Translations) -> None:
        if isinstance(query.message, Message):
            text, markup = await show_admin(t)
            try:
                await query.message.edit_text(text, reply_markup=markup)
            except TelegramBadRequest as exc:
                if "not modified" not in exc.message:
                    raise

    @router.callback_query(MaintenanceSwitch.filter())
    async def switch_maintenance(
        query: CallbackQuery,
        callback_data: MaintenanceSwitch,
        customer: UserView,
        t: Translations,
    ) -> None:
        if not await staff.is_staff(query.from_user.id):
            await query.answer(t.gettext("staff.alert.only_staff"), show_alert=True)
            return
        state = await container.maintenance.set(callback_data.enabled, by_user_id=customer.id)
        key = "staff.toast.maintenance_on" if state.enabled else "staff.toast.maintenance_off"
        await query.answer(t.gettext(key))
        await redraw_admin(query, t)

    @router.callback_query(GatewayModeSwitch.filter())
    async def switch_mode(
        query: CallbackQuery,
        callback_data: GatewayModeSwitch,
        customer: UserView,
        t: Translations,
    ) -> None:
        """A gateway to test or live: new payments through it are made in that mode; the
        ones already made keep theirs."""
        if not await staff.is_staff(query.from_user.id):
            await query.answer(t.gettext("staff.alert.only_staff"), show_alert=True)
            return
        try:
            gateway = Gateway(callback_data.gateway)
            mode = await container.gateway_modes.switch(
                gateway, callback_data.mode, by_user_id=customer.id
            )
        except (ValueError, InvalidRequest):
            await query.answer(t.gettext("staff.alert.outdated"), show_alert=True)
            return
        name = t.gettext(f"staff.admin.gateway.{gateway.value}")
        await query.answer(
            t.gettext("staff.toast.mode", gateway=name, mode=t.gettext(f"staff.admin.mode.{mode}"))
        )
        await redraw_admin(query, t)

    @router.callback_query(AdminRefresh.filter())
    async def refresh_admin(query: CallbackQuery, t: Translations) -> None:
        if not await staff.is_staff(query.from_user.id):
            await query.answer(t.gettext("staff.alert.only_staff"), show_alert=True)
            return
        await query.answer()
        await redraw_admin(query, t)

    return router


def _tracking_reply(t: Translations) -> ForceReply:
    # selective: only the person mentioned in (or replied to by) the prompt is asked
    return ForceReply(
        force_reply=True,
        selective=True,
        input_field_placeholder=t.gettext("staff.ship.placeholder"),
    )
