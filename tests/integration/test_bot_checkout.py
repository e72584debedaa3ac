"""Checkout and "My orders" in the chat, driven through the sandbox over HTTP: every step
refuses a bad answer with the reason and asks again; the confirmed total is the one
charged; the order lands in the database, the manager's outbox and the customer's list."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from sqlalchemy import select, update

from tests.integration.test_bot_webhook import bot_settings, shop
from tests.support.factories import make_product, stock_of
from tests.support.fakes import FrozenClock
from tests.support.sandbox import RunningSandbox
from tgshop.config import Settings, ShopSettings
from tgshop.db.engine import Database
from tgshop.db.models import Order, OutboxJob, User, Variant
from tgshop.sandbox.client import SandboxUser, buttons
from tgshop.services.cart import CartService

pytestmark = pytest.mark.timeout(90)

HOSTILE = "<b>Eve</b> & </a>"


async def _customer_with_cart(
    sandbox: RunningSandbox, db: Database, name: str, *items: tuple[int, int]
) -> SandboxUser:
    """A sandbox user who has said /start and has ``items`` (variant id, quantity) in the
    cart (filled through the service: the catalog screens have tests of their own)."""
    person = await sandbox.client.user(name, last_name="Smith")
    await person.send("/start")
    async with db.read() as session:
        user_id = (
            await session.execute(select(User.id).where(User.telegram_id == person.id))
        ).scalar_one()
    carts = CartService(db, FrozenClock(), ShopSettings())
    for variant_id, quantity in items:
        await carts.add(user_id, variant_id, quantity)
    return person


async def test_a_physical_order_with_every_bad_answer_explained(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    teapot = await make_product(db, "Teapot <b>&</b>", variants=[("1 l </a>", 2500, 5)])
    async with shop(sandbox, bot_settings(make_settings, sandbox, db_url), db):
        eve = await _customer_with_cart(sandbox, db, HOSTILE, (teapot.variants[0].id, 2))
        cart = await eve.tap("Cart")
        assert "Teapot <b>&</b>" in cart.text  # shown literally
        asked = await eve.tap("✅ Checkout")
        assert "Who will receive the order?" in asked.text
        assert await eve.reply_keyboard() == [f"{HOSTILE} Smith", "✖ Cancel checkout"]

        # Name: too short, then not text at all, then the offered Telegram name.
        assert "must be 2–64 characters" in (await eve.send("A")).text
        assert "type the recipient's name as text" in (await eve.send_photo(_PNG)).text
        asked = await eve.tap(f"{HOSTILE} Smith")
        assert "phone number for the courier" in asked.text

        # Phone: nonsense, someone else's contact, no country code, then the contact button.
        assert "doesn't look like a valid phone number" in (await eve.send("12345")).text
        stranger = await eve.share_contact("+447911123456", own=False)
        assert "share your own contact" in stranger.text
        assert (
            "start the number with + and the country code"
            in (await eve.send("8 916 123-45-67")).text
        )
        asked = await eve.tap("📱 Share my phone number")
        assert "Where should we deliver?" in asked.text

        # Address: too short, an impossible location, then a hostile but valid address.
        assert "must be 5–500 characters" in (await eve.send("Flat")).text
        assert "no valid coordinates" in (await eve.share_location(0, 0)).text
        asked = await eve.send("221B <b>Baker</b> St & </a>\nLondon")
        assert "Anything the shop should know" in asked.text

        # Comment: too long, then skipped.
        assert "at most 500 characters" in (await eve.send("x" * 501)).text
        summary = await eve.tap("Skip")
        assert "Your order" in summary.text
        assert "Teapot <b>&</b> (1 l </a>) × 2 — 50.00 USD" in summary.text
        assert "Total: 50.00 USD" in summary.text
        assert f"Name: {HOSTILE} Smith" in summary.text
        assert f"Phone: +1202555{eve.id % 10_000:04d}" in summary.text
        assert "221B <b>Baker</b> St & </a>\nLondon" in summary.text
        assert "✅ Place order" in buttons(summary.last)
        assert "use the buttons under your order" in (await eve.send("yes")).text.lower()

        placed = await eve.tap("✅ Place order")
        assert placed.answer is not None and placed.answer["text"].startswith("Order ")
        assert "Thank you! Order" in placed.text and "50.00 USD" in placed.text
        assert await eve.reply_keyboard() == ["Catalog", "Cart", "My orders", "Help", "Language"]

    async with db.read() as session:
        status, total, delivery = (
            await session.execute(select(Order.status, Order.total_amount, Order.delivery))
        ).one()
        kinds = list((await session.execute(select(OutboxJob.kind))).scalars())
    assert (status, total) == ("awaiting_payment", 5000)
    assert delivery == {
        "name": f"{HOSTILE} Smith",
        "phone": f"+1202555{eve.id % 10_000:04d}",
        "address": "221B <b>Baker</b> St & </a>\nLondon",
    }
    assert kinds == ["notify_manager_new_order"]
    assert await stock_of(db, teapot.variants[0].id) == 3


async def test_my_orders_shows_history_and_cancels_an_unpaid_order(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    guide = await make_product(db, "Guide", kind="digital", variants=[("PDF", 900, 4)])
    async with shop(sandbox, bot_settings(make_settings, sandbox, db_url), db):
        bob = await _customer_with_cart(sandbox, db, "Bob", (guide.variants[0].id, 1))
        assert "no orders yet" in (await bob.tap("My orders")).text
        await bob.tap("Cart")
        summary = await bob.tap("✅ Checkout")  # nothing to deliver: straight to the summary
        assert "Total: 9.00 USD" in summary.text and "Delivery" not in summary.text
        await bob.tap("✅ Place order")
        async with db.read() as session:
            number = (await session.execute(select(Order.number))).scalar_one()

        listing = await bob.tap("My orders")
        label = next(b for b in buttons(listing.last) if b.startswith(f"{number} · "))
        assert label.endswith("9.00 USD · awaiting payment")
        detail = await bob.tap(label)
        assert f"Order {number}" in detail.text
        assert "Status: awaiting payment · payment: unpaid" in detail.text
        assert "awaiting payment (you)" in detail.text  # the history
        asked = await bob.tap("✖ Cancel this order")
        assert f"Cancel order {number}?" in asked.text
        kept = await bob.tap("No, keep it")
        assert "Status: awaiting payment" in kept.text
        await bob.tap("✖ Cancel this order")
        done = await bob.tap("Yes, cancel it")
        assert done.answer is not None and done.answer["text"] == "Order cancelled."
        assert "Status: cancelled" in done.text
        assert "cancelled (you)" in done.text
        assert "✖ Cancel this order" not in buttons(done.last)
    assert await stock_of(db, guide.variants[0].id) == 4


async def test_a_price_change_before_confirming_shows_the_new_total(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    guide = await make_product(db, "Guide", kind="digital", variants=[("PDF", 900, None)])
    async with shop(sandbox, bot_settings(make_settings, sandbox, db_url), db):
        carol = await _customer_with_cart(sandbox, db, "Carol", (guide.variants[0].id, 2))
        await carol.tap("Cart")
        assert "Total: 18.00 USD" in (await carol.tap("✅ Checkout")).text
        async with db.transaction() as session:
            await session.execute(
                update(Variant).where(Variant.id == guide.variants[0].id).values(price_amount=1000)
            )
        again = await carol.tap("✅ Place order")
        assert again.answer is not None and "changed" in again.answer["text"]
        assert "Total: 20.00 USD" in again.text and "check the new total" in again.text
        placed = await carol.tap("✅ Place order")
        assert "20.00 USD" in placed.text
    async with db.read() as session:
        assert (await session.execute(select(Order.total_amount))).scalar_one() == 2000


async def test_checkout_can_be_left_and_a_stale_summary_places_nothing(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    teapot = await make_product(db, "Teapot", variants=[("1 l", 2500, 5)])
    guide = await make_product(db, "Guide", kind="digital", variants=[("PDF", 900, None)])
    async with shop(sandbox, bot_settings(make_settings, sandbox, db_url), db):
        dan = await _customer_with_cart(sandbox, db, "Dan", (teapot.variants[0].id, 1))
        await dan.tap("Cart")
        await dan.tap("✅ Checkout")
        left = await dan.tap("✖ Cancel checkout")
        assert "Checkout cancelled. Your cart is kept." in left.text
        assert "Dan" not in await dan.reply_keyboard()  # the main menu is back
        assert "✅ Checkout" in buttons((await dan.tap("Cart")).last)

        erin = await _customer_with_cart(sandbox, db, "Erin", (guide.variants[0].id, 1))
        await erin.tap("Cart")
        await erin.tap("✅ Checkout")
        await erin.send("/cancel")  # leaves the flow; the summary's buttons stay on screen
        stale = await erin.tap("✅ Place order", wait=1)  # an alert only
        assert stale.answer is not None and "This checkout is over" in stale.answer["text"]
    async with db.read() as session:
        assert (await session.execute(select(Order.id))).first() is None


@pytest.mark.postgres  # where transactions really overlap; SQLite queues its writers
async def test_fifty_customers_checking_out_at_once_keep_their_own_answers(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    """FSM data is per user per chat: 50 people in the same steps at the same moment each
    get an order with exactly their own name, phone and address."""
    teapot = await make_product(db, "Teapot", variants=[("1 l", 2500, 100)])
    async with shop(sandbox, bot_settings(make_settings, sandbox, db_url), db):
        people = await asyncio.gather(
            *(
                _customer_with_cart(sandbox, db, f"Buyer{i}", (teapot.variants[0].id, 1))
                for i in range(50)
            )
        )

        async def check_out(i: int, person: SandboxUser) -> str:
            await person.tap("Cart")
            await person.tap("✅ Checkout")
            await person.send(f"Buyer Number {i}")
            await person.send(f"+1202555{i:04d}")
            await person.send(f"{i} Unique Street, Springfield")
            await person.tap("Skip")
            return (await person.tap("✅ Place order")).text

        answers = await asyncio.gather(*(check_out(i, p) for i, p in enumerate(people)))
    assert all("Thank you! Order" in answer for answer in answers)
    async with db.read() as session:
        rows = (await session.execute(select(User.telegram_id, Order.delivery).join(Order))).all()
    by_person = {telegram_id: delivery for telegram_id, delivery in rows}
    assert len(by_person) == len(rows) == 50
    for i, person in enumerate(people):
        assert by_person[person.id] == {
            "name": f"Buyer Number {i}",
            "phone": f"+1202555{i:04d}",
            "address": f"{i} Unique Street, Springfield",
        }
    assert await stock_of(db, teapot.variants[0].id) == 50


# A 1×1 PNG: the smallest photo a person can send where text was asked for.
_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)
