"""The product card: a photo (the first image) with a caption, or a text when the product has
no images, and the buttons to choose a variant and a quantity and add them to the cart."""

from __future__ import annotations

from collections.abc import Sequence

from aiogram import Bot
from aiogram.types import CallbackQuery, InlineKeyboardMarkup

from tgshop.bot.catalog_keyboards import CardState, card_keyboard
from tgshop.bot.catalog_texts import CAPTION_LIMIT, TEXT_LIMIT, product_text
from tgshop.bot.product_photos import send_photo
from tgshop.bot.screens import chat_id_of, delete_quietly, edit_caption, pressed_message, show_text
from tgshop.config import ShopSettings
from tgshop.domain.errors import NotFound
from tgshop.i18n.translator import Translations
from tgshop.services.catalog import CatalogService, CategoryNode, ProductDetail


def build_card(
    product: ProductDetail,
    shop: ShopSettings,
    *,
    variant_id: int = 0,
    qty: int = 1,
    category: int = 0,
    page: int = 1,
    added: bool = False,
) -> CardState:
    """The card for a chosen variant and quantity, as far as they still make sense.

    The variant is the requested one when the product still has it, else the first one in
    stock, else the first one. The quantity stays between 1 and what can be added: the
    stock of a tracked variant and the shop's ``max_line_quantity``."""
    variant = next((v for v in product.variants if v.id == variant_id), None)
    if variant is None:
        variant = next((v for v in product.variants if v.in_stock), product.variants[0])
    if not variant.in_stock:
        max_qty = 0
    elif variant.unlimited:
        max_qty = shop.max_line_quantity
    else:
        max_qty = min(variant.available, shop.max_line_quantity)
    return CardState(
        product=product,
        variant=variant,
        qty=max(1, min(qty, max_qty)),
        max_qty=max_qty,
        category=max(0, category),
        page=max(1, page),
        added=added,
    )


def card_content(t: Translations, card: CardState) -> tuple[str, InlineKeyboardMarkup]:
    limit = CAPTION_LIMIT if card.product.image_ids else TEXT_LIMIT
    return product_text(t, card.product, card.variant, limit=limit), card_keyboard(t, card)


async def send_card(
    bot: Bot, catalog: CatalogService, chat_id: int, t: Translations, card: CardState
) -> None:
    """Send the card as a new message."""
    text, markup = card_content(t, card)
    if card.product.image_ids:
        await send_photo(bot, catalog, chat_id, card.product.image_ids[0], text, markup)
    else:
        await bot.send_message(chat_id, text, reply_markup=markup)


async def show_card(
    query: CallbackQuery, bot: Bot, catalog: CatalogService, t: Translations, card: CardState
) -> None:
    """Show the card in place of the pressed message: a caption edit on the card's own photo,
    a text edit for a card without images, else the old message goes and the card comes."""
    text, markup = card_content(t, card)
    message = pressed_message(query)
    if not card.product.image_ids:
        await show_text(query, bot, text, markup)
    elif message is not None and message.photo:
        await edit_caption(message, text, markup)
    else:  # sent before the old one goes: if sending fails, the person still has a screen
        await send_card(bot, catalog, chat_id_of(query), t, card)
        if message is not None:
            await delete_quietly(bot, message.chat.id, message.message_id)


async def send_product_by_key(
    bot: Bot,
    catalog: CatalogService,
    shop: ShopSettings,
    chat_id: int,
    t: Translations,
    key: str,
) -> bool:
    """Send the card of the product with this key (a deep link); False when there is no such
    product for sale. "Back" leads to its category when that is still shown, else to every
    product."""
    try:
        product = await catalog.product_detail(key=key)
    except NotFound:
        return False
    category = product.category_id or 0
    if category and not _shown(await catalog.categories_tree(), category):
        category = 0
    await send_card(bot, catalog, chat_id, t, build_card(product, shop, category=category))
    return True


def _shown(tree: Sequence[CategoryNode], category_id: int) -> bool:
    stack = list(tree)
    while stack:
        node = stack.pop()
        if node.id == category_id:
            return True
        stack.extend(node.children)
    return False
