"""Why a cart change was refused, in the person's language.

Callback answers are plain text (no markup), so nothing here is escaped. A refusal we have
no message for is shown with the error's own message rather than hidden.
"""

from __future__ import annotations

from tgshop.config import ShopSettings
from tgshop.domain.errors import DomainError, InvalidRequest, NotFound, OutOfStock
from tgshop.i18n.translator import Translations
from tgshop.services.cart import CartService


async def explain_cart_error(
    t: Translations,
    error: DomainError,
    *,
    carts: CartService,
    shop: ShopSettings,
    user_id: int,
    variant_id: int,
    adding: int = 0,
) -> str:
    """``adding``: the quantity an "add" asked for (it comes on top of the line's quantity);
    0 for a change that sets the quantity."""
    if isinstance(error, OutOfStock) and error.shortages:
        shortage = error.shortages[0]
        if shortage.available <= 0:
            return t.gettext("bot.cart.error.sold_out", title=shortage.title)
        return t.gettext(
            "bot.cart.error.not_enough",
            title=shortage.title,
            available=shortage.available,
            requested=shortage.requested,
        )
    if isinstance(error, NotFound):
        return t.gettext("bot.catalog.product_gone")
    if isinstance(error, InvalidRequest):
        cart = await carts.view(user_id)
        line = next((line for line in cart.lines if line.variant_id == variant_id), None)
        current = line.quantity if line else 0
        if adding and current + adding > shop.max_line_quantity:
            return t.gettext(
                "bot.cart.error.line_limit", max=shop.max_line_quantity, current=current
            )
        if line is None and len(cart.lines) >= shop.max_cart_lines:
            return t.gettext("bot.cart.error.cart_full", max=shop.max_cart_lines)
    return error.message
