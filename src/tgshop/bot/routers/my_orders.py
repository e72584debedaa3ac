"""My orders: the customer's orders, newest first; one order with its history; cancelling
an unpaid order (the state machine decides whether that is still allowed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import Bot, F, Router
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from tgshop.bot.catalog_texts import e
from tgshop.bot.checkout_texts import label, order_line, order_text
from tgshop.bot.keyboards import labels_everywhere
from tgshop.bot.routers.payment import payment_choice
from tgshop.bot.routers.refund_request import OrderRefund
from tgshop.bot.screens import answer_text, show_text
from tgshop.domain.errors import ConcurrentChange, IllegalTransition, NotFound
from tgshop.domain.orders import Actor, OrderStatus, PaymentStatus, allowed_targets
from tgshop.domain.payments import Gateway
from tgshop.i18n.translator import Translations
from tgshop.services.order_views import OrderView
from tgshop.services.users import UserView

if TYPE_CHECKING:
    from tgshop.app import Container

PER_PAGE = 6
MAX_PAGES = 50  # older orders than PER_PAGE * MAX_PAGES are for the Mini App and support


class OrdersPage(CallbackData, prefix="ol"):
    page: int


class OrderDetail(CallbackData, prefix="od"):
    order_id: int
    page: int = 0


class OrderCancel(CallbackData, prefix="ox"):
    """``step`` is ``ask`` (first tap) or ``yes`` (the confirmation)."""

    order_id: int
    step: str


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def _list_markup(
    t: Translations, orders: list[OrderView], page: int, more: bool
) -> InlineKeyboardMarkup:
    rows = [[_button(order_line(t, o), OrderDetail(order_id=o.id, page=page))] for o in orders]
    nav = []
    if page > 0:
        nav.append(_button(t.gettext("bot.orders.newer"), OrdersPage(page=page - 1)))
    if more and page + 1 < MAX_PAGES:
        nav.append(_button(t.gettext("bot.orders.older"), OrdersPage(page=page + 1)))
    if nav:
        rows.append(nav)
    return InlineKeyboardMarkup(inline_keyboard=rows)


def _detail_markup(
    t: Translations, order: OrderView, page: int, methods: list[Gateway]
) -> InlineKeyboardMarkup:
    rows = []
    payable = order.status is OrderStatus.AWAITING_PAYMENT
    if payable and order.payment_status is PaymentStatus.UNPAID:
        choice = payment_choice(t, order, None, methods)
        rows.extend(choice.inline_keyboard if choice is not None else [])
    if order.payment_status in (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED):
        rows.append(
            [_button(t.gettext("bot.orders.refund_button"), OrderRefund(order_id=order.id))]
        )
    if OrderStatus.CANCELLED in allowed_targets(order.status, Actor.CUSTOMER):
        rows.append(
            [
                _button(
                    t.gettext("bot.orders.cancel_button"),
                    OrderCancel(order_id=order.id, step="ask"),
                )
            ]
        )
    rows.append([_button(t.gettext("bot.orders.back"), OrdersPage(page=page))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def my_orders_router(container: Container) -> Router:
    router = Router(name="my_orders")
    orders = container.orders
    methods = container.payments.methods()

    async def page_of(customer: UserView, page: int) -> tuple[list[OrderView], bool]:
        found = await orders.list_for_user(customer.id, limit=PER_PAGE + 1, offset=page * PER_PAGE)
        return found[:PER_PAGE], len(found) > PER_PAGE

    async def list_screen(
        customer: UserView, t: Translations, page: int
    ) -> tuple[str, InlineKeyboardMarkup | None]:
        found, more = await page_of(customer, page)
        if not found and page == 0:
            return t.gettext("bot.orders.empty"), None
        if not found:  # an old "older" button after orders vanished: show the first page
            return await list_screen(customer, t, 0)
        return t.gettext("bot.orders.list_title"), _list_markup(t, found, page, more)

    @router.message(F.text.in_(labels_everywhere(container.translator, "bot.menu.orders")))
    async def my_orders(message: Message, customer: UserView, t: Translations) -> None:
        text, markup = await list_screen(customer, t, 0)
        await message.answer(text, reply_markup=markup)

    @router.callback_query(OrdersPage.filter())
    async def list_page(
        query: CallbackQuery,
        callback_data: OrdersPage,
        customer: UserView,
        t: Translations,
        bot: Bot,
    ) -> None:
        page = min(max(callback_data.page, 0), MAX_PAGES - 1)
        text, markup = await list_screen(customer, t, page)
        await query.answer()
        await show_text(query, bot, text, markup)

    async def detail(
        query: CallbackQuery,
        bot: Bot,
        customer: UserView,
        t: Translations,
        order_id: int,
        page: int,
    ) -> None:
        try:
            order = await orders.get(order_id, user_id=customer.id)
        except NotFound:
            await query.answer(t.gettext("bot.orders.not_found"), show_alert=True)
            return
        await query.answer()
        await show_text(query, bot, order_text(t, order), _detail_markup(t, order, page, methods))

    @router.callback_query(OrderDetail.filter())
    async def order_detail(
        query: CallbackQuery,
        callback_data: OrderDetail,
        customer: UserView,
        t: Translations,
        bot: Bot,
    ) -> None:
        page = min(max(callback_data.page, 0), MAX_PAGES - 1)
        await detail(query, bot, customer, t, callback_data.order_id, page)

    @router.callback_query(OrderCancel.filter(F.step == "ask"))
    async def ask_cancel(
        query: CallbackQuery,
        callback_data: OrderCancel,
        customer: UserView,
        t: Translations,
        bot: Bot,
    ) -> None:
        try:
            order = await orders.get(callback_data.order_id, user_id=customer.id)
        except NotFound:
            await query.answer(t.gettext("bot.orders.not_found"), show_alert=True)
            return
        markup = InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    _button(
                        t.gettext("bot.orders.cancel_yes"),
                        OrderCancel(order_id=order.id, step="yes"),
                    ),
                    _button(t.gettext("bot.orders.cancel_no"), OrderDetail(order_id=order.id)),
                ]
            ]
        )
        await query.answer()
        await show_text(
            query, bot, t.gettext("bot.orders.cancel_confirm", number=e(order.number)), markup
        )

    @router.callback_query(OrderCancel.filter(F.step == "yes"))
    async def cancel(
        query: CallbackQuery,
        callback_data: OrderCancel,
        customer: UserView,
        t: Translations,
        bot: Bot,
    ) -> None:
        """The customer cancels their own unpaid order; its stock goes back on sale and the
        shop is told through the usual status notification."""
        try:
            order = await orders.change_status(
                callback_data.order_id,
                OrderStatus.CANCELLED,
                actor=Actor.CUSTOMER,
                actor_user_id=customer.id,
                note="cancelled by the customer in the bot",
            )
        except NotFound:
            await query.answer(t.gettext("bot.orders.not_found"), show_alert=True)
            return
        except (IllegalTransition, ConcurrentChange):
            current = await orders.get(callback_data.order_id, user_id=customer.id)
            status = label(t, "order.status", current.status.value)
            await query.answer(
                answer_text(t.gettext("bot.orders.cannot_cancel", status=status)), show_alert=True
            )
            await show_text(
                query, bot, order_text(t, current), _detail_markup(t, current, 0, methods)
            )
            return
        await query.answer(t.gettext("bot.orders.cancelled"))
        await show_text(query, bot, order_text(t, order), _detail_markup(t, order, 0, methods))

    return router
