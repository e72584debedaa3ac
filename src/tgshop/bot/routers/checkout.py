"""Checkout in the chat: name → phone → address → comment → confirmation → order.

Digital-only carts go straight to the confirmation. Every answer is checked by the rules of
:mod:`tgshop.domain.delivery`; a refused answer is explained and the same question asked
again. The answers live in the FSM data (per user per chat, persistent, expiring after a
silence) until the order is placed or the customer cancels.
"""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING, Any

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    Message,
)

from tgshop.bot.callbacks import CheckoutStart, ShowCart
from tgshop.bot.catalog_texts import e
from tgshop.bot.checkout_texts import (
    cancel_button,
    problem_text,
    shortage_text,
    step_keyboard,
    summary_text,
)
from tgshop.bot.keyboards import labels_everywhere, main_menu, mini_app_url
from tgshop.bot.routers.payment import payment_choice
from tgshop.bot.screens import answer_text, pressed_message
from tgshop.domain.delivery import (
    Coordinates,
    DeliveryDetails,
    DeliveryProblem,
    check_coordinates,
    clean_address,
    clean_comment,
    clean_name,
    parse_phone,
)
from tgshop.domain.errors import EmptyCart, OutOfStock, PriceChanged
from tgshop.i18n.translator import Translations
from tgshop.services.users import UserView

if TYPE_CHECKING:
    from tgshop.app import Container


class Checkout(StatesGroup):
    name = State()
    phone = State()
    address = State()
    comment = State()
    confirm = State()


class ConfirmAction(CallbackData, prefix="ck"):
    """A button under the confirmation: ``place``, ``edit`` or ``cancel``."""

    action: str


def _confirm_keyboard(t: Translations) -> InlineKeyboardMarkup:
    def button(key: str, action: str) -> list[InlineKeyboardButton]:
        return [
            InlineKeyboardButton(
                text=t.gettext(key), callback_data=ConfirmAction(action=action).pack()
            )
        ]

    return InlineKeyboardMarkup(
        inline_keyboard=[
            button("bot.checkout.place_button", "place"),
            button("bot.checkout.edit_button", "edit"),
            button("bot.checkout.cancel_button", "cancel"),
        ]
    )


def _details(data: dict[str, Any]) -> DeliveryDetails:
    location = data.get("location")
    return DeliveryDetails(
        name=data.get("name"),
        phone=data.get("phone"),
        address=data.get("address"),
        location=Coordinates(*location) if location else None,
        comment=data.get("comment"),
    )


def checkout_router(container: Container) -> Router:
    router = Router(name="checkout")
    checkout = container.checkout
    region = container.settings.shop.phone_region
    shop_url = mini_app_url(container.settings.telegram.public_url)
    cancel_labels = labels_everywhere(container.translator, "bot.checkout.cancel_button")
    skip_labels = labels_everywhere(container.translator, "bot.checkout.skip_button")
    in_checkout = StateFilter(Checkout)

    async def ask_name(
        chat: Message, state: FSMContext, t: Translations, customer: UserView
    ) -> None:
        await state.set_state(Checkout.name)
        rows: list[list[KeyboardButton]] = []
        with suppress(DeliveryProblem):  # a Telegram name that would not pass is not offered
            rows.append([KeyboardButton(text=clean_name(customer.display_name))])
        await chat.answer(
            t.gettext("bot.checkout.ask_name"), reply_markup=step_keyboard(*rows, cancel_button(t))
        )

    async def ask_phone(chat: Message, state: FSMContext, t: Translations) -> None:
        await state.set_state(Checkout.phone)
        data = await state.get_data()
        rows = [[KeyboardButton(text=t.gettext("bot.checkout.share_phone"), request_contact=True)]]
        if data.get("saved_phone"):
            rows.append([KeyboardButton(text=data["saved_phone"])])
        await chat.answer(
            t.gettext("bot.checkout.ask_phone"), reply_markup=step_keyboard(*rows, cancel_button(t))
        )

    async def ask_address(chat: Message, state: FSMContext, t: Translations) -> None:
        await state.set_state(Checkout.address)
        share = [
            KeyboardButton(text=t.gettext("bot.checkout.share_location"), request_location=True)
        ]
        await chat.answer(
            t.gettext("bot.checkout.ask_address"),
            reply_markup=step_keyboard(share, cancel_button(t)),
        )

    async def ask_comment(chat: Message, state: FSMContext, t: Translations) -> None:
        await state.set_state(Checkout.comment)
        skip = [KeyboardButton(text=t.gettext("bot.checkout.skip_button"))]
        await chat.answer(
            t.gettext("bot.checkout.ask_comment"),
            reply_markup=step_keyboard(skip, cancel_button(t)),
        )

    async def show_summary(
        chat: Message,
        state: FSMContext,
        t: Translations,
        customer: UserView,
        *,
        changed: bool = False,
    ) -> None:
        """The confirmation screen, for the cart as it is now; its total is what the
        customer agrees to."""
        try:
            review = await checkout.review(customer.id)
        except EmptyCart:
            await state.clear()
            await chat.answer(t.gettext("bot.checkout.empty"), reply_markup=main_menu(t, shop_url))
            return
        data = await state.get_data()
        if review.needs_delivery and not data.get("delivery_asked"):
            # The cart gained goods to deliver since checkout began: ask where to.
            await state.update_data(delivery_asked=True)
            await ask_name(chat, state, t, customer)
            return
        await state.update_data(total=review.cart.total.amount)
        await state.set_state(Checkout.confirm)
        await chat.answer(
            t.gettext("bot.checkout.check_below"), reply_markup=main_menu(t, shop_url)
        )
        await chat.answer(
            summary_text(t, review.cart, _details(data).as_order_delivery(), changed=changed),
            reply_markup=_confirm_keyboard(t),
        )

    @router.callback_query(CheckoutStart.filter())
    async def start(
        query: CallbackQuery, state: FSMContext, customer: UserView, t: Translations
    ) -> None:
        message = pressed_message(query)
        try:
            review = await checkout.review(customer.id)
        except EmptyCart:
            await query.answer(t.gettext("bot.checkout.empty"), show_alert=True)
            return
        if not review.cart.can_checkout:
            await query.answer(t.gettext("bot.checkout.fix_cart"), show_alert=True)
            return
        await query.answer()
        if message is None:
            return
        await state.clear()
        await state.update_data(
            delivery_asked=review.needs_delivery, saved_phone=review.saved_phone
        )
        if review.needs_delivery:
            await ask_name(message, state, t, customer)
        else:
            await show_summary(message, state, t, customer)

    @router.message(in_checkout, F.text.in_(cancel_labels))
    async def cancel_by_button(message: Message, state: FSMContext, t: Translations) -> None:
        await state.clear()
        await message.answer(
            t.gettext("bot.checkout.cancelled"), reply_markup=main_menu(t, shop_url)
        )

    @router.message(Checkout.name, F.text)
    async def got_name(
        message: Message, state: FSMContext, t: Translations, customer: UserView
    ) -> None:
        try:
            name = clean_name(message.text or "")
        except DeliveryProblem as problem:
            await message.answer(problem_text(t, problem))
            return
        await state.update_data(name=name)
        await ask_phone(message, state, t)

    @router.message(Checkout.phone, F.contact)
    async def got_contact(message: Message, state: FSMContext, t: Translations) -> None:
        contact = message.contact
        sender = message.from_user
        if contact is None or sender is None or contact.user_id != sender.id:
            await message.answer(t.gettext("bot.checkout.problem.phone.not_yours"))
            return
        try:
            phone = parse_phone(contact.phone_number, None)
        except DeliveryProblem as problem:
            await message.answer(problem_text(t, problem))
            return
        await state.update_data(phone=phone)
        await ask_address(message, state, t)

    @router.message(Checkout.phone, F.text)
    async def got_phone(message: Message, state: FSMContext, t: Translations) -> None:
        try:
            phone = parse_phone(message.text or "", region)
        except DeliveryProblem as problem:
            await message.answer(problem_text(t, problem))
            return
        await state.update_data(phone=phone)
        await ask_address(message, state, t)

    @router.message(Checkout.address, F.location)
    async def got_location(message: Message, state: FSMContext, t: Translations) -> None:
        location = message.location
        try:
            if location is None:
                raise DeliveryProblem("location", "invalid", "no location")
            place = check_coordinates(location.latitude, location.longitude)
        except DeliveryProblem as problem:
            await message.answer(problem_text(t, problem))
            return
        await state.update_data(location=[place.latitude, place.longitude], address=None)
        await ask_comment(message, state, t)

    @router.message(Checkout.address, F.text)
    async def got_address(message: Message, state: FSMContext, t: Translations) -> None:
        try:
            address = clean_address(message.text or "")
        except DeliveryProblem as problem:
            await message.answer(problem_text(t, problem))
            return
        await state.update_data(address=address, location=None)
        await ask_comment(message, state, t)

    @router.message(Checkout.comment, F.text)
    async def got_comment(
        message: Message, state: FSMContext, t: Translations, customer: UserView
    ) -> None:
        text = message.text or ""
        try:
            comment = "" if text in skip_labels else clean_comment(text)
        except DeliveryProblem as problem:
            await message.answer(problem_text(t, problem))
            return
        await state.update_data(comment=comment or None)
        await show_summary(message, state, t, customer)

    @router.message(Checkout.confirm)
    async def use_the_buttons(message: Message, t: Translations) -> None:
        await message.answer(t.gettext("bot.checkout.use_buttons"))

    @router.message(in_checkout)
    async def wrong_kind_of_answer(message: Message, state: FSMContext, t: Translations) -> None:
        """A sticker, a photo, a location where text was asked: say what is expected."""
        current = await state.get_state()
        step = (current or "").rsplit(":", 1)[-1]
        await message.answer(t.gettext(f"bot.checkout.expected.{step}"))

    @router.callback_query(ConfirmAction.filter())
    async def confirm(
        query: CallbackQuery,
        callback_data: ConfirmAction,
        state: FSMContext,
        customer: UserView,
        t: Translations,
        bot: Bot,
    ) -> None:
        message = pressed_message(query)
        if await state.get_state() != Checkout.confirm.state or message is None:
            await query.answer(t.gettext("bot.checkout.stale"), show_alert=True)
            return
        if callback_data.action == "cancel":
            await query.answer()
            await state.clear()
            await message.edit_reply_markup(reply_markup=None)
            await message.answer(
                t.gettext("bot.checkout.cancelled"), reply_markup=main_menu(t, shop_url)
            )
            return
        if callback_data.action == "edit":
            await query.answer()
            await message.edit_reply_markup(reply_markup=None)
            await state.update_data(delivery_asked=True)
            review = await checkout.review(customer.id)
            if review.needs_delivery:
                await ask_name(message, state, t, customer)
            else:
                await show_summary(message, state, t, customer)
            return
        if callback_data.action != "place":
            await query.answer(t.gettext("bot.checkout.stale"), show_alert=True)
            return
        data = await state.get_data()
        try:
            order = await checkout.place(
                customer.id, _details(data), expected_total=int(data["total"])
            )
        except PriceChanged:
            await query.answer(
                answer_text(t.gettext("bot.checkout.total_changed")), show_alert=True
            )
            await message.edit_reply_markup(reply_markup=None)
            await show_summary(message, state, t, customer, changed=True)
            return
        except OutOfStock as error:
            await query.answer()
            await state.clear()
            await message.edit_reply_markup(reply_markup=None)
            back = InlineKeyboardMarkup(
                inline_keyboard=[
                    [
                        InlineKeyboardButton(
                            text=t.gettext("bot.checkout.back_to_cart"),
                            callback_data=ShowCart().pack(),
                        )
                    ]
                ]
            )
            await message.answer(shortage_text(t, error), reply_markup=back)
            return
        except EmptyCart:
            await query.answer(t.gettext("bot.checkout.empty"), show_alert=True)
            await state.clear()
            return
        except DeliveryProblem:
            await query.answer()
            await message.edit_reply_markup(reply_markup=None)
            await state.update_data(delivery_asked=True)
            await ask_name(message, state, t, customer)
            return
        await state.clear()
        await query.answer(t.gettext("bot.checkout.placed_short", number=order.number))
        await message.edit_reply_markup(reply_markup=None)
        await bot.send_message(
            message.chat.id,
            t.gettext("bot.checkout.placed", number=e(order.number), total=e(order.total)),
            reply_markup=main_menu(t, shop_url),
        )
        balance = (
            await container.payments.balance(customer.id)
            if container.settings.payments.wallet_enabled
            else None
        )
        choice = payment_choice(t, order, balance, container.payments.methods())
        if choice is not None:
            await bot.send_message(
                message.chat.id,
                t.gettext("bot.pay.choose", total=e(order.total)),
                reply_markup=choice,
            )

    return router
