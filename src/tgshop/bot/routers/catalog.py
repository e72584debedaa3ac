"""The catalog in the chat: categories → a page of products → the product card → add to cart.

Navigation edits the message the button was on; the card is a photo when the product has
images, so moving between it and a text screen replaces the message (see bot/screens.py).
Every id in a button is looked up again: a product or category gone since the button was
drawn gets a polite alert and a screen that still makes sense.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from tgshop.bot.cart_errors import explain_cart_error
from tgshop.bot.catalog_keyboards import (
    PRODUCTS_PER_PAGE,
    AddToCart,
    CardState,
    CategoryList,
    Hint,
    HintButton,
    ProductCard,
    ProductList,
    ProductPhotos,
    categories_keyboard,
    products_keyboard,
)
from tgshop.bot.catalog_texts import e
from tgshop.bot.keyboards import labels_everywhere
from tgshop.bot.product_card import build_card, send_card, show_card
from tgshop.bot.product_photos import send_album
from tgshop.bot.screens import answer_text, chat_id_of, delete_quietly, pressed_message, show_text
from tgshop.domain.errors import DomainError, NotFound
from tgshop.i18n.translator import Translations
from tgshop.services.catalog import CatalogService, CategoryNode, ProductDetail, ProductQuery
from tgshop.services.users import UserView

if TYPE_CHECKING:
    from tgshop.app import Container


def _index(tree: Sequence[CategoryNode]) -> dict[int, tuple[CategoryNode, int]]:
    """Every category by id, with its parent's id (0 for the top level)."""
    found: dict[int, tuple[CategoryNode, int]] = {}
    stack = [(node, 0) for node in tree]
    while stack:
        node, parent = stack.pop()
        found[node.id] = (node, parent)
        stack.extend((child, node.id) for child in node.children)
    return found


class CatalogScreens:
    """Builds the text screens of the catalog (shared by buttons, the menu and deep links)."""

    def __init__(self, catalog: CatalogService) -> None:
        self.catalog = catalog

    async def categories(
        self, t: Translations, parent_id: int
    ) -> tuple[str, InlineKeyboardMarkup] | None:
        """The categories under ``parent_id`` (0: the top level); None when it is gone."""
        tree = await self.catalog.categories_tree()
        if parent_id == 0:
            return t.gettext("bot.catalog.choose"), categories_keyboard(t, tree, None, 0)
        found = _index(tree).get(parent_id)
        if found is None:
            return None
        parent, grandparent = found
        text = t.gettext("bot.catalog.choose_in", title=e(parent.title))
        return text, categories_keyboard(t, parent.children, parent, grandparent)

    async def products(
        self, t: Translations, category_id: int, page: int
    ) -> tuple[str, InlineKeyboardMarkup] | None:
        """A page of products of a category and its subcategories (0: every product); a
        page past the end shows the last one; None when the category is gone."""
        back_to = 0
        title = t.gettext("bot.catalog.all_products_title")
        if category_id != 0:
            found = _index(await self.catalog.categories_tree()).get(category_id)
            if found is None:
                return None
            node, parent = found
            back_to = node.id if node.children else parent
            title = t.gettext("bot.catalog.category_title", title=e(node.title))
        query = ProductQuery(
            category_id=category_id or None, page=max(1, page), per_page=PRODUCTS_PER_PAGE
        )
        try:
            listing = await self.catalog.list_products(query)
            if listing.page > listing.pages:
                query = ProductQuery(
                    category_id=query.category_id, page=listing.pages, per_page=PRODUCTS_PER_PAGE
                )
                listing = await self.catalog.list_products(query)
        except NotFound:  # deactivated between the two reads
            return None
        lines = [title]
        if not listing.items:
            lines.append(t.gettext("bot.catalog.empty"))
        elif listing.pages > 1:
            lines.append(t.gettext("bot.catalog.page", page=listing.page, pages=listing.pages))
        return "\n".join(lines), products_keyboard(t, listing, category_id, back_to)


def catalog_router(container: Container) -> Router:
    router = Router(name="catalog")
    catalog, carts, shop = container.catalog, container.carts, container.settings.shop
    screens = CatalogScreens(catalog)

    async def top_level(query: CallbackQuery, bot: Bot, t: Translations) -> None:
        shown = await screens.categories(t, 0)
        assert shown is not None  # the top level always exists
        await show_text(query, bot, *shown)

    @router.message(F.text.in_(labels_everywhere(container.translator, "bot.menu.catalog")))
    async def open_catalog(message: Message, t: Translations) -> None:
        shown = await screens.categories(t, 0)
        assert shown is not None
        await message.answer(shown[0], reply_markup=shown[1])

    @router.callback_query(CategoryList.filter())
    async def categories(
        query: CallbackQuery, callback_data: CategoryList, bot: Bot, t: Translations
    ) -> None:
        shown = await screens.categories(t, callback_data.parent)
        if shown is None:
            await query.answer(t.gettext("bot.catalog.category_gone"), show_alert=True)
            await top_level(query, bot, t)
            return
        await query.answer()
        await show_text(query, bot, *shown)

    @router.callback_query(ProductList.filter())
    async def products(
        query: CallbackQuery, callback_data: ProductList, bot: Bot, t: Translations
    ) -> None:
        shown = await screens.products(t, callback_data.category, callback_data.page)
        if shown is None:
            await query.answer(t.gettext("bot.catalog.category_gone"), show_alert=True)
            await top_level(query, bot, t)
            return
        await query.answer()
        await show_text(query, bot, *shown)

    async def product_gone(query: CallbackQuery, bot: Bot, t: Translations, category: int) -> None:
        await query.answer(t.gettext("bot.catalog.product_gone"), show_alert=True)
        shown = await screens.products(t, category, 1) or await screens.categories(t, 0)
        assert shown is not None
        await show_text(query, bot, *shown)

    def card_for(
        product: ProductDetail, data: ProductCard | AddToCart, *, added: bool = False
    ) -> CardState:
        return build_card(
            product,
            shop,
            variant_id=data.variant,
            qty=data.qty,
            category=data.category,
            page=data.page,
            added=added,
        )

    @router.callback_query(ProductCard.filter())
    async def card(
        query: CallbackQuery, callback_data: ProductCard, bot: Bot, t: Translations
    ) -> None:
        data = callback_data
        try:
            product = await catalog.product_detail(data.product)
        except NotFound:
            await product_gone(query, bot, t, data.category)
            return
        state = card_for(product, data)
        if data.variant and state.variant.id != data.variant:
            await query.answer(t.gettext("bot.product.variant_gone"), show_alert=True)
        else:
            await query.answer()
        await show_card(query, bot, catalog, t, state)

    @router.callback_query(AddToCart.filter())
    async def add(
        query: CallbackQuery,
        callback_data: AddToCart,
        bot: Bot,
        customer: UserView,
        t: Translations,
    ) -> None:
        data = callback_data
        try:
            product = await catalog.product_detail(data.product)
        except NotFound:
            await product_gone(query, bot, t, data.category)
            return
        state = card_for(product, data)
        if state.variant.id != data.variant:  # the option went away since the card was drawn
            await query.answer(t.gettext("bot.product.variant_gone"), show_alert=True)
            await show_card(query, bot, catalog, t, state)
            return
        try:
            await carts.add(customer.id, data.variant, data.qty)
        except DomainError as error:
            reason = await explain_cart_error(
                t,
                error,
                carts=carts,
                shop=shop,
                user_id=customer.id,
                variant_id=data.variant,
                adding=data.qty,
            )
            await query.answer(answer_text(reason), show_alert=True)
            return
        title = product.title
        if len(product.variants) > 1:
            title = f"{title} ({state.variant.title})"
        added = t.gettext("bot.product.added", quantity=data.qty, title=title)
        await query.answer(answer_text(added))
        await show_card(query, bot, catalog, t, card_for(product, data, added=True))

    @router.callback_query(ProductPhotos.filter())
    async def photos(
        query: CallbackQuery, callback_data: ProductPhotos, bot: Bot, t: Translations
    ) -> None:
        data = callback_data
        try:
            product = await catalog.product_detail(data.product)
        except NotFound:
            await product_gone(query, bot, t, data.category)
            return
        await query.answer()
        chat_id = chat_id_of(query)
        await send_album(bot, catalog, chat_id, product.image_ids)
        # The card follows the album, so its buttons stay at the bottom of the chat.
        state = build_card(product, shop, category=data.category, page=data.page)
        await send_card(bot, catalog, chat_id, t, state)
        if (message := pressed_message(query)) is not None:
            await delete_quietly(bot, chat_id, message.message_id)

    @router.callback_query(HintButton.filter())
    async def hint(query: CallbackQuery, callback_data: HintButton, t: Translations) -> None:
        texts = {
            Hint.MIN: "bot.product.quantity_min",
            Hint.MAX: "bot.product.quantity_max",
            Hint.QTY: "bot.product.quantity_hint",
        }
        key = texts.get(callback_data.code)
        await query.answer(t.gettext(key) if key else None)

    return router
