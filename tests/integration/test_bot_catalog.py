"""The catalog and the cart in the chat, and /start deep links, driven through the sandbox over
HTTP: categories → pages → product card (photo by cached file_id) → cart, with HTML-hostile
merchant texts shown literally and outdated buttons answered politely."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.integration.test_bot_webhook import bot_settings, shop
from tests.support.factories import make_category, make_images, make_product
from tests.support.fakes import FrozenClock
from tests.support.sandbox import RunningSandbox
from tgshop.config import Settings
from tgshop.db.engine import Database
from tgshop.db.models import Category, Media, Product, User, Variant
from tgshop.sandbox.client import Reply, SandboxUser, buttons
from tgshop.services.cart import CartService

pytestmark = pytest.mark.timeout(90)

HOSTILE = "<b>Zen</b> & </a> tea"
HOSTILE_DESCRIPTION = "Grown <i>high</i> & picked </a> by hand"


async def set_position(db: Database, product_id: int, position: int) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Product).where(Product.id == product_id).values(position=position)
        )


async def press(user: SandboxUser, message: dict[str, Any], label: str) -> Reply:
    """Press a button of one particular (maybe old) message, as a person scrolling up can."""
    return await user.client.watch(
        user.id,
        user.client.request(
            "POST",
            f"/users/{user.id}/press",
            {"message_id": message["message_id"], "button": label},
        ),
    )


def alert(reply: Reply) -> str:
    assert reply.answer is not None and reply.answer["show_alert"], reply.answer
    return str(reply.answer["text"])


async def user_id_of(db: Database, telegram_id: int) -> int:
    async with db.read() as session:
        return (
            await session.execute(select(User.id).where(User.telegram_id == telegram_id))
        ).scalar_one()


async def tea_shop(db: Database) -> dict[str, Any]:
    """Tea (Green, Black) and Gifts; Green has ten products, the HTML-hostile one last."""
    tea = await make_category(db, "Tea")
    green = await make_category(db, "Green", parent_id=tea.id)
    await make_category(db, "Black", parent_id=tea.id)
    gifts = await make_category(db, "Gifts")
    for n in range(1, 10):
        await make_product(db, f"Green {n:02d}", category_id=green.id)
    hostile = await make_product(
        db,
        HOSTILE,
        category_id=green.id,
        description=HOSTILE_DESCRIPTION,
        variants=[("Small <i>", 500, 3), ("Large", 900, 10)],
    )
    await set_position(db, hostile.id, 100)
    images = await make_images(db, hostile.id, 2)
    card = await make_product(db, "Gift card", category_id=gifts.id, variants=[("$10", 1000, None)])
    return {"hostile": hostile, "images": images, "card": card, "tea": tea, "green": green}


async def test_browse_choose_add_and_manage_the_cart(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    data = await tea_shop(db)
    async with shop(sandbox, bot_settings(make_settings, sandbox, db_url), db):
        alice = await sandbox.client.user("Alice")
        await alice.send("/start")

        catalog = await alice.tap("Catalog")
        assert "Choose a category" in catalog.text
        assert buttons(catalog.last) == ["Gifts", "Tea", "All products"]
        tea = await alice.tap("Tea")
        assert tea.edited and not tea.messages  # the same message, edited in place
        assert buttons(tea.last) == ["Black", "Green", "All in Tea", "◀ Back"]
        page1 = await alice.tap("Green")
        assert "Page 1 of 2" in page1.text
        labels = buttons(page1.last)
        assert labels[:2] == ["Green 01 · from 9.90 USD", "Green 02 · from 9.90 USD"]
        assert labels[8:] == ["◀", "page 1/2", "▶", "◀ Back"]
        page2 = await alice.tap("▶")
        assert "Page 2 of 2" in page2.text and page2.edited
        assert f"{HOSTILE} · from 5.00 USD" in buttons(page2.last)  # a label is plain text

        card = await alice.tap(f"{HOSTILE} · from 5.00 USD")
        photo = card.messages[-1]
        assert "photo" in photo
        caption = photo["caption"]
        assert caption.startswith(HOSTILE)  # shown literally, not parsed as markup
        assert HOSTILE_DESCRIPTION in caption
        assert "Small <i>: 5.00 USD" in caption and "Only 3 left" in caption
        assert buttons(photo) == [
            "✓ Small <i> · 5.00 USD",
            "Large · 9.00 USD",
            "−",
            "1",
            "+",
            "🛒 Add to cart",
            "🖼 Photos (2)",
            "◀ Back",
        ]
        history = await alice.history()
        assert not any("Page 2 of 2" in (m.get("text") or "") for m in history)  # replaced

        large = await alice.tap("Large · 9.00 USD")
        assert "Large: 9.00 USD" in large.text and "In stock" in large.text
        assert "✓ Large · 9.00 USD" in buttons(large.last)
        await alice.tap("+")
        three = await alice.tap("+")
        assert buttons(three.last)[3] == "3"
        added = await alice.tap("🛒 Add to cart")
        assert added.answer == {
            "text": f"Added: 3 × {HOSTILE} (Large)",
            "show_alert": False,
            "url": None,
        }
        assert "Go to cart" in buttons(added.last)

        cart = await alice.tap("Go to cart")
        assert cart.messages and "photo" not in cart.messages[-1]
        assert f"#1 {HOSTILE} (Large)\n3 × 9.00 USD = 27.00 USD" in cart.text
        assert "Total: 27.00 USD" in cart.text
        assert buttons(cart.last) == [
            "#1 −",
            "#1 +",
            "#1 ✕",
            "🗑 Clear cart",
            "✅ Checkout",
            "Continue shopping",
        ]

        await alice.tap("Continue shopping")
        await alice.tap("Gifts")
        gift = await alice.tap("Gift card · from 10.00 USD")
        assert gift.edited and "photo" not in (gift.last or {})  # a text card, in place
        assert "Price: 10.00 USD" in gift.text and "In stock" in gift.text
        await alice.tap("🛒 Add to cart")

        cart = await alice.tap("Cart")
        assert "#2 Gift card ($10)\n1 × 10.00 USD = 10.00 USD" in cart.text
        assert "Total: 37.00 USD" in cart.text
        fewer = await alice.tap("#1 −")
        assert fewer.edited and not fewer.messages
        assert "2 × 9.00 USD = 18.00 USD" in fewer.text and "Total: 28.00 USD" in fewer.text
        more = await alice.tap("#2 +")
        assert "Total: 38.00 USD" in more.text
        removed = await alice.tap("#2 ✕")
        assert removed.answer is not None and removed.answer["text"] == "Removed: Gift card ($10)"
        assert "Gift card" not in removed.text and "Total: 18.00 USD" in removed.text

        asked = await alice.tap("🗑 Clear cart")
        assert "Clear the whole cart?" in asked.text
        assert buttons(asked.last)[3:5] == ["Yes, clear it", "No, keep it"]
        kept = await alice.tap("No, keep it")
        assert "Clear the whole cart?" not in kept.text and "Total: 18.00 USD" in kept.text
        await alice.tap("🗑 Clear cart")
        cleared = await alice.tap("Yes, clear it")
        assert cleared.answer is not None and cleared.answer["text"] == "Cart cleared."
        assert "Your cart is empty" in cleared.text
        assert buttons(cleared.last) == ["Open the catalog"]
        assert data["hostile"].id  # the fixture really was the product shown


async def test_sold_out_and_too_few_left_are_explained(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    sold_out = await make_product(db, "Matcha <tin>", variants=[("50 g", 1500, 0)])
    scarce = await make_product(db, "Oolong", variants=[("100 g", 700, 5)])
    async with shop(sandbox, bot_settings(make_settings, sandbox, db_url), db):
        bob = await sandbox.client.user("Bob")
        await bob.send("/start")
        await bob.tap("Catalog")
        listing = await bob.tap("All products")
        assert "🚫 Matcha <tin> · from 15.00 USD · sold out" in buttons(listing.last)
        card = await bob.tap("🚫 Matcha <tin> · from 15.00 USD · sold out")
        assert "Out of stock" in card.text
        assert buttons(card.last) == ["🛒 Add to cart", "◀ Back"]  # no quantity to choose
        refused = await bob.tap("🛒 Add to cart", wait=1)  # an alert only: nothing to wait for
        assert alert(refused) == "Sorry, Matcha <tin> (50 g) is out of stock."

        await bob.tap("◀ Back")
        card = await bob.tap("Oolong · from 7.00 USD")
        assert "Only 5 left" in card.text
        for _ in range(4):
            await bob.tap("+")
        most = await bob.tap("+", wait=1)  # five is all there is: an alert only
        assert most.answer is not None
        assert most.answer["text"] == "That's as many as you can add."
        assert buttons(await bob.last_message())[1] == "5"
        async with db.transaction() as session:  # someone else bought most of it meanwhile
            await session.execute(
                update(Variant).where(Variant.product_id == scarce.id).values(stock_quantity=2)
            )
        refused = await bob.tap("🛒 Add to cart", wait=1)
        assert alert(refused) == "Only 2 of Oolong (100 g) left, and your cart would need 5."
        assert sold_out.id != scarce.id


async def test_photos_are_uploaded_once_then_sent_by_file_id(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    product = await make_product(db, "Sencha")
    images = await make_images(db, product.id, 3)
    files = sandbox.sandbox.bot(sandbox.token).files
    async with shop(sandbox, bot_settings(make_settings, sandbox, db_url), db):
        carol = await sandbox.client.user("Carol")
        await carol.send("/start")
        await carol.tap("Catalog")
        await carol.tap("All products")
        first = await carol.tap("Sencha · from 9.90 USD")
        uploaded = first.messages[-1]["photo"][-1]["file_id"]
        async with db.read() as session:
            cached = (
                await session.execute(select(Media.telegram_file_id).where(Media.id == images[0]))
            ).scalar_one()
        assert cached == uploaded  # the largest size's file_id is kept
        assert len(files) == 1

        await carol.tap("◀ Back")
        again = await carol.tap("Sencha · from 9.90 USD")
        assert again.messages[-1]["photo"][-1]["file_id"] == uploaded
        assert len(files) == 1  # sent by file_id: the sandbox got no new upload

        album = await carol.tap("🖼 Photos (3)")
        photos = [m for m in album.messages if "media_group_id" in m]
        assert len(photos) == 3 and photos[0]["photo"][-1]["file_id"] == uploaded
        assert len(files) == 3  # the two images never sent before, uploaded once each
        assert "photo" in album.messages[-1] and "Sencha" in album.messages[-1]["caption"]
        await carol.tap("🖼 Photos (3)")
        assert len(files) == 3  # the whole album now comes from file_ids

        async with db.transaction() as session:  # a file_id of another bot (a new token)
            await session.execute(
                update(Media).where(Media.id == images[0]).values(telegram_file_id="AgACother")
            )
        await carol.tap("◀ Back")
        refreshed = await carol.tap("Sencha · from 9.90 USD")
        new_id = refreshed.messages[-1]["photo"][-1]["file_id"]
        assert new_id not in ("AgACother", uploaded) and len(files) == 4  # uploaded again
        async with db.read() as session:
            assert (
                await session.execute(select(Media.telegram_file_id).where(Media.id == images[0]))
            ).scalar_one() == new_id


async def test_start_deep_links(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    product = await make_product(db, HOSTILE, description=HOSTILE_DESCRIPTION)
    await make_product(db, "Hidden", is_active=False)

    async def referrer_of(telegram_id: int) -> int | None:
        async with db.read() as session:
            return (
                await session.execute(
                    select(User.referrer_id).where(User.telegram_id == telegram_id)
                )
            ).scalar_one()

    async def code_of(telegram_id: int) -> str:
        async with db.read() as session:
            return (
                await session.execute(
                    select(User.referral_code).where(User.telegram_id == telegram_id)
                )
            ).scalar_one()

    async with shop(sandbox, bot_settings(make_settings, sandbox, db_url), db):
        dave = await sandbox.client.user("Dave")
        opened = await dave.send(f"/start p_{product.key}")
        assert opened.messages[0]["text"].startswith("Hello, Dave!")
        assert opened.messages[-1]["text"].startswith(HOSTILE)
        assert "🛒 Add to cart" in buttons(opened.messages[-1])

        unknown = await dave.send("/start p_no-such-product")
        assert unknown.messages[-1]["text"].startswith("Sorry, that product isn't available")
        assert buttons(unknown.messages[-1]) == ["Open the catalog"]
        hidden = await dave.send("/start p_" + (await hidden_key(db)))
        assert "isn't available" in hidden.messages[-1]["text"]
        for junk in ("/start p_UPPER", "/start p_", "/start what?<b>", "/start " + "x" * 65):
            plain = await dave.send(junk)
            assert len(plain.messages) == 1 and plain.text.startswith("Hello, Dave!"), junk

        ann = await sandbox.client.user("Ann")
        await ann.send("/start")
        eve = await sandbox.client.user("Eve")
        await eve.send("/start")
        ann_code, eve_code = await code_of(ann.id), await code_of(eve.id)

        welcome = await dave.send(f"/start ref_{ann_code}")
        assert len(welcome.messages) == 1 and welcome.text.startswith("Hello, Dave!")
        ann_id = await user_id_of(db, ann.id)
        assert await referrer_of(dave.id) == ann_id
        await dave.send(f"/start ref_{eve_code}")  # a second link changes nothing
        assert await referrer_of(dave.id) == ann_id
        await eve.send(f"/start ref_{eve_code}")  # one's own link
        assert await referrer_of(eve.id) is None
        await eve.send("/start ref_unknown-code")
        assert await referrer_of(eve.id) is None
        dave_code = await code_of(dave.id)
        await ann.send(f"/start ref_{dave_code}")  # invited by the person she invited
        assert await referrer_of(ann.id) is None


async def hidden_key(db: Database) -> str:
    async with db.read() as session:
        return (
            await session.execute(select(Product.key).where(Product.is_active.is_(False)))
        ).scalar_one()


async def test_outdated_buttons_get_a_polite_answer(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    data = await tea_shop(db)
    settings = bot_settings(make_settings, sandbox, db_url)
    carts = CartService(db, FrozenClock(), settings.shop)
    async with shop(sandbox, settings, db):
        frank = await sandbox.client.user("Frank")
        await frank.send("/start")
        frank_id = await user_id_of(db, frank.id)
        await carts.add(frank_id, data["hostile"].variants[1].id, 1)
        await carts.add(frank_id, data["card"].variants[0].id, 2)
        cart = (await frank.tap("Cart")).last
        assert cart is not None

        await carts.remove(frank_id, data["hostile"].variants[1].id)  # e.g. in the Mini App
        stale = await press(frank, cart, "#1 ✕")
        assert stale.answer is not None
        assert stale.answer["text"] == "Already removed from your cart."
        assert "Zen" not in stale.text and "#1 Gift card" in stale.text  # shown as it is now
        assert buttons(stale.last)[:3] == ["#1 −", "#1 +", "#1 ✕"]

        async with db.transaction() as session:  # the gift card goes off sale
            await session.execute(
                update(Product).where(Product.id == data["card"].id).values(is_active=False)
            )
        flagged = await frank.tap("Cart")
        assert "No longer available" in flagged.text and "✅ Checkout" not in buttons(flagged.last)
        assert buttons(flagged.last)[0] == "#1 ✕"  # only removing makes sense

        await frank.tap("Catalog")
        await frank.tap("Tea")
        await frank.tap("Green")
        await frank.tap("▶")
        card = await frank.tap(f"{HOSTILE} · from 5.00 USD")
        await frank.tap("Large · 9.00 USD")
        async with db.transaction() as session:  # the chosen option goes off sale
            await session.execute(
                update(Variant)
                .where(Variant.id == data["hostile"].variants[1].id)
                .values(is_active=False)
            )
        other = await frank.tap("+")
        assert alert(other) == "That option is no longer available; please choose another."
        assert "Price: 5.00 USD" in other.text and "Large" not in other.text
        async with db.transaction() as session:
            await session.execute(
                update(Product).where(Product.id == data["hostile"].id).values(is_active=False)
            )
        gone = await frank.tap("🛒 Add to cart")
        assert alert(gone) == "Sorry, this product is no longer available."
        assert "Green" in gone.text and "photo" not in (gone.last or {})  # back to the list
        assert card.last is not None

        categories = (await frank.tap("Catalog")).last
        assert categories is not None
        async with db.transaction() as session:
            await session.execute(
                update(Category).where(Category.id == data["tea"].id).values(is_active=False)
            )
        outdated = await press(frank, categories, "Tea")
        assert alert(outdated) == "Sorry, this category is no longer available."
        assert buttons(outdated.last) == ["Gifts", "All products"]
