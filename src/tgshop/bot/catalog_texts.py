"""Texts of the catalog and the cart in the chat.

Every merchant- or customer-supplied string (titles, descriptions) is escaped here before it
goes into a catalog message; the catalogs' own markup is trusted. Telegram measures its
limits (4096 for a text, 1024 for a caption) on the text *after* markup is parsed, so long
descriptions are trimmed on the raw text, before escaping, and no tag or entity is cut.
"""

from __future__ import annotations

import re
from html import escape, unescape

from tgshop.i18n.translator import Translations
from tgshop.services.cart import CartLine, CartView, LineProblem
from tgshop.services.catalog import ProductDetail, VariantView

CAPTION_LIMIT = 1024
TEXT_LIMIT = 4096
LOW_STOCK = 5  # "only N left" from this many down
CART_TEXT_BUDGET = 3800  # room left for the total and the notes under the lines
LINE_TITLE_LENGTH = 80
MAX_CART_LINES_SHOWN = 30  # three buttons each stay under Telegram's 100 per keyboard
_TAG = re.compile(r"<[^>]*>")


def e(value: object) -> str:
    return escape(str(value), quote=False)


def visible_length(html: str) -> int:
    """What Telegram counts against its limits: the text without tags, entities decoded.
    (Parameters are always escaped, so every ``<`` left is one of our tags.)"""
    return len(unescape(_TAG.sub("", html)))


def cut(text: str, limit: int) -> str:
    text = text.strip()
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)].rstrip() + "…" if limit > 0 else ""


def stock_line(t: Translations, variant: VariantView) -> str:
    if variant.unlimited:
        return t.gettext("bot.product.in_stock")
    if variant.available <= 0:
        return t.gettext("bot.product.out_of_stock")
    if variant.available <= LOW_STOCK:
        return t.gettext("bot.product.low_stock", count=variant.available)
    return t.gettext("bot.product.in_stock")


def product_text(
    t: Translations, product: ProductDetail, variant: VariantView, *, limit: int
) -> str:
    """Title, description (trimmed to fit ``limit``), the chosen variant's price and its
    stock state."""
    if len(product.variants) > 1:
        price = t.gettext(
            "bot.product.variant_price", variant=e(variant.title), price=e(variant.price)
        )
    else:
        price = t.gettext("bot.product.price", price=e(variant.price))
    head = t.gettext("bot.product.title", title=e(product.title))
    tail = f"{price}\n{stock_line(t, variant)}"
    frame = f"{head}\n\n{tail}"
    description = product.description.strip()
    if not description:
        return frame
    room = limit - visible_length(frame) - 2  # the blank line between description and price
    description = cut(description, room)
    return f"{head}\n\n{e(description)}\n\n{tail}" if description else frame


def _problem(t: Translations, line: CartLine) -> str | None:
    if line.problem is LineProblem.UNAVAILABLE:
        return t.gettext("bot.cart.problem.unavailable")
    if line.problem is LineProblem.INSUFFICIENT:
        if not line.available:
            return t.gettext("bot.cart.problem.sold_out")
        return t.gettext("bot.cart.problem.insufficient", available=line.available)
    return None


def cart_text(
    t: Translations, cart: CartView, *, confirm_clear: bool = False
) -> tuple[str, list[CartLine]]:
    """The cart's lines (each with its problem, if any), the total, and what stops the
    checkout. Returns the text and the lines it shows (a huge cart shows as many as fit)."""
    if cart.is_empty:
        return t.gettext("bot.cart.empty"), []
    parts = [t.gettext("bot.cart.title")]
    shown: list[CartLine] = []
    used = visible_length(parts[0])
    for number, line in enumerate(cart.lines, start=1):
        text = t.gettext(
            "bot.cart.line",
            number=number,
            title=e(cut(line.product_title, LINE_TITLE_LENGTH)),
            variant=e(cut(line.variant_title, LINE_TITLE_LENGTH)),
            quantity=line.quantity,
            unit_price=e(line.unit_price),
            line_total=e(line.line_total),
        )
        problem = _problem(t, line)
        if problem:
            text = f"{text}\n{problem}"
        too_long = used + visible_length(text) + 2 > CART_TEXT_BUDGET
        if too_long or len(shown) == MAX_CART_LINES_SHOWN:
            parts.append(t.gettext("bot.cart.more_lines", count=len(cart.lines) - len(shown)))
            break
        parts.append(text)
        shown.append(line)
        used += visible_length(text) + 2
    parts.append(t.gettext("bot.cart.total", total=e(cart.total)))
    if not cart.can_checkout:
        parts.append(t.gettext("bot.cart.fix_to_checkout"))
    if confirm_clear:
        parts.append(t.gettext("bot.cart.clear_question"))
    return "\n\n".join(parts), shown
