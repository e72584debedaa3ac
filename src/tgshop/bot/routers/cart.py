"""The cart in the chat: lines with totals and problems, − / + / ✕ per line, clear (after a
confirmation), checkout (handled by the checkout router), continue shopping.

The cart lives on the server and the Mini App changes it too, so every button acts on the
cart as it is now, not as it was drawn: "+" on a line adds one to its current quantity, and
a button for a line removed meanwhile says so and shows the cart again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from tgshop.bot.callbacks import ShowCart
from tgshop.bot.cart_errors import explain_cart_error
from tgshop.bot.catalog_keyboards import CartClear, CartLineEdit, LineOp, cart_keyboard
from tgshop.bot.catalog_texts import cart_text
from tgshop.bot.keyboards import labels_everywhere
from tgshop.bot.screens import answer_text, show_text
from tgshop.domain.errors import DomainError
from tgshop.i18n.translator import Translations
from tgshop.services.cart import CartLine, CartService, CartView, LineProblem
from tgshop.services.users import UserView

if TYPE_CHECKING:
    from tgshop.app import Container


def _line_title(line: CartLine) -> str:
    return f"{line.product_title} ({line.variant_title})"


async def _change(carts: CartService, user_id: int, line: CartLine, op: LineOp) -> CartView:
    """One less (never more than the stock left; below 1 removes the line), one more, or
    remove. A line that can no longer be bought only goes away."""
    if op is LineOp.REMOVE or line.problem is LineProblem.UNAVAILABLE:
        return await carts.remove(user_id, line.variant_id)
    if op is LineOp.INCREASE:
        return await carts.set_quantity(user_id, line.variant_id, line.quantity + 1)
    wanted = line.quantity - 1
    if line.available is not None:
        wanted = min(wanted, line.available)
    return await carts.set_quantity(user_id, line.variant_id, max(0, wanted))


def cart_router(container: Container) -> Router:
    router = Router(name="cart")
    carts, shop = container.carts, container.settings.shop

    def screen(
        t: Translations, cart: CartView, *, confirm_clear: bool = False
    ) -> tuple[str, InlineKeyboardMarkup]:
        text, shown = cart_text(t, cart, confirm_clear=confirm_clear)
        return text, cart_keyboard(t, cart, shown, confirm_clear=confirm_clear)

    @router.message(F.text.in_(labels_everywhere(container.translator, "bot.menu.cart")))
    async def open_cart(message: Message, customer: UserView, t: Translations) -> None:
        text, markup = screen(t, await carts.view(customer.id))
        await message.answer(text, reply_markup=markup)

    @router.callback_query(ShowCart.filter())
    async def show_cart(
        query: CallbackQuery, bot: Bot, customer: UserView, t: Translations
    ) -> None:
        await query.answer()
        await show_text(query, bot, *screen(t, await carts.view(customer.id)))

    @router.callback_query(CartLineEdit.filter())
    async def edit_line(
        query: CallbackQuery,
        callback_data: CartLineEdit,
        bot: Bot,
        customer: UserView,
        t: Translations,
    ) -> None:
        cart = await carts.view(customer.id)
        line = next((x for x in cart.lines if x.variant_id == callback_data.variant), None)
        if line is None:  # removed meanwhile (another tap, the Mini App, a placed order)
            await query.answer(t.gettext("bot.cart.already_removed"))
            await show_text(query, bot, *screen(t, cart))
            return
        try:
            cart = await _change(carts, customer.id, line, callback_data.op)
        except DomainError as error:
            reason = await explain_cart_error(
                t,
                error,
                carts=carts,
                shop=shop,
                user_id=customer.id,
                variant_id=line.variant_id,
                adding=1 if callback_data.op is LineOp.INCREASE else 0,
            )
            await query.answer(answer_text(reason), show_alert=True)
            await show_text(query, bot, *screen(t, await carts.view(customer.id)))
            return
        if all(x.variant_id != line.variant_id for x in cart.lines):
            await query.answer(answer_text(t.gettext("bot.cart.removed", title=_line_title(line))))
        else:
            await query.answer()
        await show_text(query, bot, *screen(t, cart))

    @router.callback_query(CartClear.filter(~F.confirmed))
    async def ask_to_clear(
        query: CallbackQuery, bot: Bot, customer: UserView, t: Translations
    ) -> None:
        cart = await carts.view(customer.id)
        await query.answer()
        await show_text(query, bot, *screen(t, cart, confirm_clear=not cart.is_empty))

    @router.callback_query(CartClear.filter(F.confirmed))
    async def clear(query: CallbackQuery, bot: Bot, customer: UserView, t: Translations) -> None:
        cart = await carts.clear(customer.id)
        await query.answer(t.gettext("bot.cart.cleared"))
        await show_text(query, bot, *screen(t, cart))

    return router
