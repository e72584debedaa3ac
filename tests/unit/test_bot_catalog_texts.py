"""What the catalog screens say, checked against the sandbox's copy of Telegram's HTML parser:
hostile merchant texts stay text, long descriptions are trimmed to the caption limit without
cutting markup, and button data always fits 64 bytes."""

from __future__ import annotations

import pytest
from aiogram.filters.callback_data import CallbackData

from tgshop.bot.catalog_keyboards import (
    AddToCart,
    CartClear,
    CartLineEdit,
    CategoryList,
    HintButton,
    LineOp,
    ProductCard,
    ProductList,
    ProductPhotos,
)
from tgshop.bot.catalog_texts import CAPTION_LIMIT, TEXT_LIMIT, cart_text, product_text
from tgshop.bot.deep_links import ProductLink, ReferralLink, parse_start_payload
from tgshop.domain.money import Money
from tgshop.i18n import Translator
from tgshop.sandbox.entities import render_text
from tgshop.services.cart import CartLine, CartView, LineProblem
from tgshop.services.catalog import ProductDetail, VariantView

T = Translator.load().get("en")
BIG = 10**12 - 1  # ids of a trillion rows: far beyond any real shop


def _variant(
    title: str = "Large <i>", available: int = 10, unlimited: bool = False, id_: int = 1
) -> VariantView:
    return VariantView(id_, f"SKU-{id_}", title, Money(990, "USD"), None, unlimited, available)


def _product(description: str, variants: list[VariantView] | None = None) -> ProductDetail:
    return ProductDetail(
        1, "p1", "<b>Zen</b> & </a>", description, "physical", None, variants or [_variant()], [1]
    )


def _shown(html: str) -> str:
    text, _ = render_text(html, "HTML")
    return text


@pytest.mark.parametrize("limit", [CAPTION_LIMIT, TEXT_LIMIT])
def test_a_long_hostile_description_is_trimmed_to_the_limit_without_cutting_markup(
    limit: int,
) -> None:
    description = "Tea & <b>cakes</b> </a> " * 400
    product = _product(description, [_variant(), _variant("Small", 3, id_=2)])
    shown = _shown(product_text(T, product, product.variants[1], limit=limit))
    assert len(shown) <= limit
    assert shown.startswith("<b>Zen</b> & </a>\n\nTea & <b>cakes</b> </a> Tea")
    assert "…\n\nSmall: 9.90 USD\n⚠️ Only 3 left" in shown


def test_a_short_description_is_whole_and_stock_states_read_well() -> None:
    product = _product("Grown & picked")
    text = _shown(product_text(T, product, _variant(available=6), limit=CAPTION_LIMIT))
    assert text == "<b>Zen</b> & </a>\n\nGrown & picked\n\nPrice: 9.90 USD\n✅ In stock"
    assert "Only 5 left" in product_text(T, product, _variant(available=5), limit=1024)
    assert "Out of stock" in product_text(T, product, _variant(available=0), limit=1024)
    unlimited = _variant(available=0, unlimited=True)
    assert "In stock" in product_text(T, product, unlimited, limit=1024)
    assert not _shown(product_text(T, _product(""), _variant(), limit=1024)).count("\n\n\n")


def _line(n: int, problem: LineProblem | None = None, available: int | None = 5) -> CartLine:
    price = Money(250, "USD")
    title = f"Tea <{n}> " + "&" * 70
    return CartLine(n, n, title, "x", f"S{n}", "physical", 2, price, price * 2, available, problem)


def test_the_cart_explains_problems_and_shows_what_fits() -> None:
    lines = [
        _line(1),
        _line(2, LineProblem.UNAVAILABLE),
        _line(3, LineProblem.INSUFFICIENT, 1),
        _line(4, LineProblem.INSUFFICIENT, 0),
    ]
    cart = CartView(1, lines, Money(500, "USD"), 2)
    html, shown = cart_text(T, cart)
    text = _shown(html)
    assert shown == lines
    assert "#1 Tea <1> &&&" in text and "2 × 2.50 USD = 5.00 USD" in text
    assert "No longer available" in text and "Only 1 left" in text and "Out of stock" in text
    assert "Total: 5.00 USD" in text and "fix the marked lines" in text

    huge = CartView(1, [_line(n) for n in range(1, 51)], Money(25000, "USD"), 100)
    html, shown = cart_text(T, huge)
    assert len(_shown(html)) <= TEXT_LIMIT
    assert 0 < len(shown) < 50 and f"… and {50 - len(shown)} more line(s)." in _shown(html)


@pytest.mark.parametrize(
    "data",
    [
        CategoryList(parent=BIG),
        ProductList(category=BIG, page=100_000),
        ProductCard(product=BIG, variant=BIG, qty=100_000, category=BIG, page=100_000),
        AddToCart(product=BIG, variant=BIG, qty=100_000, category=BIG, page=100_000),
        ProductPhotos(product=BIG, category=BIG, page=100_000),
        CartLineEdit(op=LineOp.REMOVE, variant=BIG),
        CartClear(confirmed=True),
    ],
)
def test_button_data_fits_64_bytes_even_for_huge_ids(data: CallbackData) -> None:
    packed = data.pack()
    assert len(packed.encode()) <= 64
    assert type(data).unpack(packed) == data


@pytest.mark.parametrize(
    ("cls", "forged"),
    [(CartLineEdit, "cl:z:5"), (ProductCard, "pc:abc"), (HintButton, "h:nope")],
)
def test_forged_button_data_does_not_parse(cls: type[CallbackData], forged: str) -> None:
    # aiogram's filter treats both errors as "not this button" (the fallback answers it)
    with pytest.raises((TypeError, ValueError)):
        cls.unpack(forged)


@pytest.mark.parametrize(
    ("payload", "link"),
    [
        ("p_sencha-100_g", ProductLink("sencha-100_g")),
        ("ref_AbC-d_9", ReferralLink("AbC-d_9")),
        ("p_Sencha", None),  # product keys are lower case
        ("p_", None),
        ("ref_", None),
        ("p_-x", None),
        ("hello", None),
        ("p_a b", None),
        ("p_<b>", None),
        ("p_" + "a" * 63, None),  # over Telegram's 64 characters
        ("", None),
        (None, None),
    ],
)
def test_start_payloads(payload: str | None, link: object) -> None:
    assert parse_start_payload(payload) == link


def test_the_card_keeps_the_quantity_within_stock_and_the_line_limit() -> None:
    from tgshop.bot.product_card import build_card
    from tgshop.config import ShopSettings

    shop = ShopSettings(max_line_quantity=3)
    sold_out, scarce = _variant("Sold out", 0, id_=5), _variant("Scarce", 2, id_=6)
    plenty = _variant("Plenty", 0, unlimited=True, id_=7)
    product = _product("", [sold_out, scarce, plenty])
    assert build_card(product, shop).variant is scarce  # the first one in stock by default
    assert build_card(product, shop, variant_id=999).variant is scarce  # gone: the default
    card = build_card(product, shop, variant_id=sold_out.id, qty=5)
    assert (card.variant, card.qty, card.max_qty) == (sold_out, 1, 0)
    card = build_card(product, shop, variant_id=7, qty=50)
    assert (card.qty, card.max_qty) == (3, 3)  # unlimited stock, but the shop's line limit
    card = build_card(product, shop, variant_id=7, qty=-4, category=-1, page=0)
    assert (card.qty, card.category, card.page) == (1, 0, 1)  # forged numbers made sane
