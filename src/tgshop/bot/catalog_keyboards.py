"""Callback data and inline keyboards of the catalog and the cart in the chat.

Formats (each within Telegram's 64 bytes for ids below 10**12; ``pack()`` refuses longer):

- ``cat:<parent>`` — categories under ``parent`` (0: the top level);
- ``pl:<category>:<page>`` — a page of products (category 0: all products);
- ``pc:<product>:<variant>:<qty>:<category>:<page>`` — a product card with a variant
  (0: the default one) and a quantity chosen; category and page say where "Back" goes;
- ``pa:<product>:<variant>:<qty>:<category>:<page>`` — add to the cart;
- ``pp:<product>:<category>:<page>`` — the product's photos as an album;
- ``cl:<op>:<variant>`` — a cart line: ``d`` one less, ``i`` one more, ``x`` remove;
- ``cc:<0|1>`` — clear the cart: ask, then do;
- ``h:<code>`` — a button that only explains something (page counter, quantity bounds).

Every value comes back from the person's client and may be forged or outdated: handlers
look everything up again and answer politely when it is gone.

Button labels are plain text (Telegram does not parse markup in them): never escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from aiogram.filters.callback_data import CallbackData
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from tgshop.bot.callbacks import CheckoutStart, ShowCart
from tgshop.i18n.translator import Translations
from tgshop.services.cart import CartLine, CartView, LineProblem
from tgshop.services.catalog import CategoryNode, Page, ProductDetail, ProductSummary, VariantView

PRODUCTS_PER_PAGE = 8
BUTTON_TITLE_LENGTH = 40


class CategoryList(CallbackData, prefix="cat"):
    parent: int = 0


class ProductList(CallbackData, prefix="pl"):
    category: int = 0
    page: int = 1


class ProductCard(CallbackData, prefix="pc"):
    product: int
    variant: int = 0
    qty: int = 1
    category: int = 0
    page: int = 1


class AddToCart(CallbackData, prefix="pa"):
    product: int
    variant: int
    qty: int
    category: int = 0
    page: int = 1


class ProductPhotos(CallbackData, prefix="pp"):
    product: int
    category: int = 0
    page: int = 1


class LineOp(StrEnum):
    DECREASE = "d"
    INCREASE = "i"
    REMOVE = "x"


class CartLineEdit(CallbackData, prefix="cl"):
    op: LineOp
    variant: int


class CartClear(CallbackData, prefix="cc"):
    confirmed: bool = False


class Hint(StrEnum):
    PAGE = "page"
    MIN = "min"
    MAX = "max"
    QTY = "qty"


class HintButton(CallbackData, prefix="h"):
    code: Hint


def short(text: str, limit: int = BUTTON_TITLE_LENGTH) -> str:
    """A title cut to fit a button (buttons are narrow; the message shows the full text)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _button(text: str, data: CallbackData) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=text, callback_data=data.pack())


def categories_keyboard(
    t: Translations, nodes: Sequence[CategoryNode], parent: CategoryNode | None, back_to: int
) -> InlineKeyboardMarkup:
    """The categories under ``parent`` (the top level when None), a button for every
    product below it, and "Back" for a subcategory."""
    rows = [
        [
            _button(
                short(node.title),
                CategoryList(parent=node.id) if node.children else ProductList(category=node.id),
            )
        ]
        for node in nodes
    ]
    if parent is None:
        rows.append([_button(t.gettext("bot.catalog.all_products"), ProductList())])
    else:
        rows.append(
            [
                _button(
                    t.gettext("bot.catalog.all_in", title=short(parent.title)),
                    ProductList(category=parent.id),
                )
            ]
        )
        rows.append([_button(t.gettext("bot.catalog.back"), CategoryList(parent=back_to))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


def products_keyboard(
    t: Translations, page: Page[ProductSummary], category: int, back_to: int
) -> InlineKeyboardMarkup:
    """One button per product (price from, sold-out marker), ◀ page ▶, Back."""
    rows = []
    for item in page.items:
        key = "bot.catalog.product" if item.in_stock else "bot.catalog.product_sold_out"
        label = t.gettext(key, title=short(item.title), price=str(item.price_from))
        rows.append(
            [_button(label, ProductCard(product=item.id, category=category, page=page.page))]
        )
    if page.pages > 1:
        previous = page.page - 1 if page.page > 1 else page.pages
        following = page.page + 1 if page.page < page.pages else 1
        rows.append(
            [
                _button("◀", ProductList(category=category, page=previous)),
                _button(
                    t.gettext("bot.catalog.page_button", page=page.page, pages=page.pages),
                    HintButton(code=Hint.PAGE),
                ),
                _button("▶", ProductList(category=category, page=following)),
            ]
        )
    rows.append([_button(t.gettext("bot.catalog.back"), CategoryList(parent=back_to))])
    return InlineKeyboardMarkup(inline_keyboard=rows)


@dataclass(frozen=True)
class CardState:
    """What a product card shows: the product, the chosen variant and quantity, where "Back"
    goes, and whether the last tap added it to the cart."""

    product: ProductDetail
    variant: VariantView
    qty: int
    max_qty: int  # 0: nothing can be added
    category: int
    page: int
    added: bool = False


def card_keyboard(t: Translations, card: CardState) -> InlineKeyboardMarkup:
    """Variants (the chosen one ticked), − quantity +, Add to cart, [Go to cart],
    [Photos (N)], Back."""
    p, v = card.product, card.variant
    where = {"category": card.category, "page": card.page}
    rows: list[list[InlineKeyboardButton]] = []
    if len(p.variants) > 1:
        choices = []
        for option in p.variants:
            mark = "✓ " if option.id == v.id else ("🚫 " if not option.in_stock else "")
            qty = max(1, min(card.qty, card.max_qty))
            choices.append(
                _button(
                    f"{mark}{short(option.title, 24)} · {option.price}",
                    ProductCard(product=p.id, variant=option.id, qty=qty, **where),
                )
            )
        rows.extend(choices[i : i + 2] for i in range(0, len(choices), 2))
    if card.max_qty > 0:
        less = (
            ProductCard(product=p.id, variant=v.id, qty=card.qty - 1, **where)
            if card.qty > 1
            else HintButton(code=Hint.MIN)
        )
        more = (
            ProductCard(product=p.id, variant=v.id, qty=card.qty + 1, **where)
            if card.qty < card.max_qty
            else HintButton(code=Hint.MAX)
        )
        rows.append(
            [
                _button("−", less),
                _button(str(card.qty), HintButton(code=Hint.QTY)),
                _button("+", more),
            ]
        )
    rows.append(
        [
            _button(
                t.gettext("bot.product.add"),
                AddToCart(product=p.id, variant=v.id, qty=card.qty, **where),
            )
        ]
    )
    if card.added:
        rows.append([_button(t.gettext("bot.product.go_to_cart"), ShowCart())])
    if len(p.image_ids) > 1:
        rows.append(
            [
                _button(
                    t.gettext("bot.product.photos", count=len(p.image_ids)),
                    ProductPhotos(product=p.id, **where),
                )
            ]
        )
    rows.append(
        [
            _button(
                t.gettext("bot.catalog.back"), ProductList(category=card.category, page=card.page)
            )
        ]
    )
    return InlineKeyboardMarkup(inline_keyboard=rows)


def cart_keyboard(
    t: Translations, cart: CartView, shown: list[CartLine], *, confirm_clear: bool = False
) -> InlineKeyboardMarkup:
    """Per shown line: #n − / #n + / #n ✕; then Clear cart (or its confirmation), Checkout
    when the cart can be checked out, Continue shopping. An empty cart: Open the catalog."""
    if cart.is_empty:
        return InlineKeyboardMarkup(
            inline_keyboard=[[_button(t.gettext("bot.cart.open_catalog"), CategoryList())]]
        )
    rows = []
    for number, line in enumerate(shown, start=1):
        row = []
        if line.problem is not LineProblem.UNAVAILABLE:
            row.append(
                _button(f"#{number} −", CartLineEdit(op=LineOp.DECREASE, variant=line.variant_id))
            )
            row.append(
                _button(f"#{number} +", CartLineEdit(op=LineOp.INCREASE, variant=line.variant_id))
            )
        row.append(_button(f"#{number} ✕", CartLineEdit(op=LineOp.REMOVE, variant=line.variant_id)))
        rows.append(row)
    if confirm_clear:
        rows.append(
            [
                _button(t.gettext("bot.cart.clear_yes"), CartClear(confirmed=True)),
                _button(t.gettext("bot.cart.clear_no"), ShowCart()),
            ]
        )
    else:
        rows.append([_button(t.gettext("bot.cart.clear"), CartClear())])
    if cart.can_checkout:
        rows.append([_button(t.gettext("bot.cart.checkout"), CheckoutStart())])
    rows.append([_button(t.gettext("bot.cart.continue"), CategoryList())])
    return InlineKeyboardMarkup(inline_keyboard=rows)
