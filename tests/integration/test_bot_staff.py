"""The staff side in Telegram, end to end through the sandbox over HTTP: order cards with
buttons in the manager group, the tracking-number prompt, /admin and maintenance mode.

The bot runs behind the webhook (``shop()`` of test_bot_webhook); orders are placed with
OrderService and the outbox jobs are run by the real worker sending through the aiogram
client to the sandbox, as `tgshop worker` would."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from tests.integration.test_bot_webhook import bot_settings, shop
from tests.support.factories import make_product
from tests.support.fakes import FrozenClock
from tests.support.sandbox import RunningSandbox
from tests.support.workers import quick_worker
from tests.support.workers import run_jobs as run_all
from tgshop.app import Container, build_container
from tgshop.config import Settings
from tgshop.db.engine import Database
from tgshop.db.models import AuditLog, OrderEvent, Setting, User
from tgshop.domain.orders import Actor, OrderStatus
from tgshop.sandbox.client import SandboxUser, buttons
from tgshop.services.orders import OrderLine, OrderView, PlaceOrderRequest

pytestmark = pytest.mark.timeout(120)

HOSTILE_CUSTOMER = "<b>Eve</b> & </a>"
HOSTILE_PRODUCT = "Tea <i>green</i> & </a>"
HOSTILE_ADDRESS = "Main St <1> & 2"
HOSTILE_TRACKING = "TRK <1> & co"


@dataclasses.dataclass
class World:
    sandbox: RunningSandbox
    container: Container  # the test's side: places orders, runs the worker
    group_id: int
    maria: SandboxUser  # staff (TGSHOP_STAFF_IDS)
    nick: SandboxUser  # in the manager group, not staff
    eve: SandboxUser  # a customer
    variant_id: int

    async def eve_user_id(self) -> int:
        async with self.container.db.read() as session:
            return (
                await session.execute(select(User.id).where(User.telegram_id == self.eve.id))
            ).scalar_one()

    async def place_order(self, quantity: int = 2) -> OrderView:
        return await self.container.orders.place_order(
            PlaceOrderRequest(
                user_id=await self.eve_user_id(),
                lines=[OrderLine(self.variant_id, quantity)],
                delivery={"name": HOSTILE_CUSTOMER, "address": HOSTILE_ADDRESS},
            )
        )

    async def run_jobs(self) -> None:
        await run_all(quick_worker(self.container))

    async def group_messages(self) -> list[dict[str, Any]]:
        return list((await self.sandbox.client.chat(self.group_id))["messages"])

    async def card(self, number: str) -> dict[str, Any]:
        """The manager-chat card of order ``number`` as the group sees it now."""
        cards = [
            m
            for m in await self.group_messages()
            if m["from"]["is_bot"] and f"New order {number}" in (m.get("text") or "")
        ]
        assert len(cards) == 1, f"one card per order, got {len(cards)}"
        return cards[0]

    async def card_when(self, number: str, check: Callable[[dict[str, Any]], bool]) -> Any:
        """The card once ``check`` holds (the bot edits it right after answering a press)."""
        return await eventually(lambda: self.card(number), check)

    async def eve_texts(self) -> list[str]:
        return [m.get("text") or "" for m in await self.eve.history() if m["from"]["is_bot"]]


async def eventually(
    read: Callable[[], Awaitable[Any]], check: Callable[[Any], bool], *, seconds: float = 10
) -> Any:
    value = await read()
    for _ in range(int(seconds / 0.05)):
        if check(value):
            return value
        await asyncio.sleep(0.05)
        value = await read()
    assert check(value), f"still not as expected: {value!r}"
    return value


@asynccontextmanager
async def staff_world(
    sandbox: RunningSandbox,
    make_settings: Callable[..., Settings],
    db: Database,
    db_url: str,
    **shop_settings: Any,
) -> AsyncIterator[World]:
    maria = await sandbox.client.user("Maria", username="maria")
    nick = await sandbox.client.user("Nick")
    eve = await sandbox.client.user(HOSTILE_CUSTOMER)
    group = await sandbox.client.group("Orders", [maria, nick])
    base = bot_settings(make_settings, sandbox, db_url)
    settings = dataclasses.replace(
        base,
        telegram=base.telegram.model_copy(
            update={"manager_chat_id": group["id"], "staff_ids": [maria.id]}
        ),
        shop=base.shop.model_copy(update=shop_settings),
    )
    product = await make_product(db, HOSTILE_PRODUCT, variants=[("100 g", 990, 50)])
    clock = FrozenClock()  # one clock for the bot and the test's side
    container = build_container(settings, db=db, clock=clock)
    try:
        async with shop(sandbox, settings, db, clock=clock):
            await eve.send("/start")  # Eve becomes a customer the way everyone does
            yield World(sandbox, container, group["id"], maria, nick, eve, product.variants[0].id)
    finally:
        # Only the Telegram client: the database belongs to the session-wide fixture.
        close = getattr(container.telegram, "close", None)
        if close is not None:
            await close()


def status_line(card: dict[str, Any]) -> str:
    return next(line for line in card["text"].splitlines() if line.startswith("Status:"))


async def order_status(db: Database, order_id: int) -> str:
    from tgshop.db.models import Order

    async with db.read() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        return order.status


# ---------------------------------------------------------------------------- order cards


async def test_staff_confirm_ship_and_deliver_from_the_manager_chat(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    async with staff_world(sandbox, make_settings, db, db_url) as world:
        order = await world.place_order()
        await world.run_jobs()

        card = await world.card(order.number)
        text = card["text"]
        assert f"Customer: {HOSTILE_CUSTOMER}" in text  # shown literally, never parsed
        assert f"• {HOSTILE_PRODUCT} (100 g) — 2 × 9.90 USD = 19.80 USD" in text
        assert f"Address: {HOSTILE_ADDRESS}" in text
        assert status_line(card) == "Status: awaiting payment, payment: unpaid"
        assert buttons(card) == ["✅ Confirm", "❌ Cancel order"]

        # Someone in the group who is not staff: an alert, and nothing changes.
        refused = await world.nick.tap("✅ Confirm", chat_id=world.group_id, expect=False, wait=0.5)
        assert refused.answer == {
            "text": "Only shop staff can do this.",
            "show_alert": True,
            "url": None,
        }
        assert refused.edited == [] and refused.messages == []
        assert await order_status(db, order.id) == "awaiting_payment"

        confirmed = await world.maria.tap("✅ Confirm", chat_id=world.group_id)
        assert confirmed.answer is not None
        assert confirmed.answer["text"] == f"Order {order.number}: confirmed."
        card = await world.card_when(order.number, lambda c: "confirmed" in status_line(c))
        assert "• confirmed — Maria (@maria), 2026-01-15 12:00 UTC" in card["text"]
        assert buttons(card) == ["🚚 Mark shipped", "📦 Mark delivered", "❌ Cancel order"]

        # Mark shipped asks Maria (by name) for the tracking number; a bad one is re-asked.
        asked = await world.maria.tap("🚚 Mark shipped", chat_id=world.group_id)
        assert asked.answer is not None
        assert asked.answer["text"] == "Send the tracking number in the chat."
        assert asked.text.startswith(
            f"Maria, reply with the tracking number of order {order.number}"
        )
        assert await order_status(db, order.id) == "confirmed"
        too_long = await world.maria.send("X" * 129, chat_id=world.group_id)
        assert "at most 128 characters; this one has 129" in too_long.text
        assert await order_status(db, order.id) == "confirmed"

        shipped = await world.maria.send(HOSTILE_TRACKING, chat_id=world.group_id)
        assert (
            f"Order {order.number} is marked shipped, tracking number {HOSTILE_TRACKING}."
            in shipped.text
        )
        card = await world.card_when(order.number, lambda c: "shipped" in status_line(c))
        assert f"Tracking number: {HOSTILE_TRACKING}" in card["text"]
        assert buttons(card) == ["📦 Mark delivered"]

        await world.maria.tap("📦 Mark delivered", chat_id=world.group_id)
        card = await world.card_when(order.number, lambda c: "delivered" in status_line(c))
        assert buttons(card) == []
        history = card["text"].split("History", 1)[1]
        assert [line.split(" — ")[0] for line in history.strip().splitlines()] == [
            "• confirmed",
            "• shipped",
            "• delivered",
        ]

        # The customer heard of every change, the tracking number included (the worker
        # runs jobs side by side, so in no particular order).
        await world.run_jobs()
        assert sorted((await world.eve_texts())[-3:]) == [
            f"✅ Your order {order.number} is confirmed. Thank you!",
            f"📦 Your order {order.number} has been delivered.",
            f"🚚 Your order {order.number} has been shipped.\nTracking number: {HOSTILE_TRACKING}",
        ]
        async with db.read() as session:
            events = (
                await session.execute(
                    select(OrderEvent.to_status, OrderEvent.actor, User.telegram_id)
                    .join(User, User.id == OrderEvent.actor_user_id)
                    .where(OrderEvent.order_id == order.id, OrderEvent.from_status.is_not(None))
                    .order_by(OrderEvent.id)
                )
            ).all()
        assert [tuple(e) for e in events] == [
            ("confirmed", "staff", world.maria.id),
            ("shipped", "staff", world.maria.id),
            ("delivered", "staff", world.maria.id),
        ]


async def test_cancel_needs_a_second_tap_and_shipping_without_tracking_is_possible(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    async with staff_world(sandbox, make_settings, db, db_url) as world:
        first, second = await world.place_order(), await world.place_order(1)
        await world.run_jobs()
        first_card = await world.card(first.number)

        asked = await world.maria.tap(
            "❌ Cancel order", chat_id=world.group_id, message_id=first_card["message_id"]
        )
        assert asked.answer is not None
        assert asked.answer["text"] == f"Tap “Yes, cancel” to cancel order {first.number}."
        card = await world.card_when(first.number, lambda c: "↩️ No, keep it" in buttons(c))
        assert buttons(card) == [f"❌ Yes, cancel {first.number}", "↩️ No, keep it"]
        assert await order_status(db, first.id) == "awaiting_payment"

        await world.maria.tap("↩️ No, keep it", chat_id=world.group_id)
        card = await world.card_when(first.number, lambda c: "✅ Confirm" in buttons(c))
        assert buttons(card) == ["✅ Confirm", "❌ Cancel order"]
        assert await order_status(db, first.id) == "awaiting_payment"

        await world.maria.tap(
            "❌ Cancel order", chat_id=world.group_id, message_id=first_card["message_id"]
        )
        # A second tap on the confirmation by someone who is not staff changes nothing.
        refused = await world.nick.tap(
            f"❌ Yes, cancel {first.number}", chat_id=world.group_id, expect=False, wait=0.5
        )
        assert refused.answer is not None and refused.answer["show_alert"] is True
        assert await order_status(db, first.id) == "awaiting_payment"
        await world.maria.tap(f"❌ Yes, cancel {first.number}", chat_id=world.group_id)
        card = await world.card_when(first.number, lambda c: "cancelled" in status_line(c))
        assert buttons(card) == []
        assert await order_status(db, first.id) == "cancelled"

        # Shipping without a tracking number: "-".
        second_card = await world.card(second.number)
        await world.maria.tap(
            "✅ Confirm", chat_id=world.group_id, message_id=second_card["message_id"]
        )
        await world.card_when(second.number, lambda c: "🚚 Mark shipped" in buttons(c))
        # Asked for the tracking number, Maria thinks better of it: /cancel stops the prompt.
        await world.maria.tap(
            "🚚 Mark shipped", chat_id=world.group_id, message_id=second_card["message_id"]
        )
        await world.maria.send("/cancel", chat_id=world.group_id)
        ignored = await world.maria.send("TRK-9", chat_id=world.group_id, expect=False, wait=0.5)
        assert ignored.messages == [] and ignored.edited == []
        assert await order_status(db, second.id) == "confirmed"

        await world.maria.tap(
            "🚚 Mark shipped", chat_id=world.group_id, message_id=second_card["message_id"]
        )
        done = await world.maria.send("-", chat_id=world.group_id)
        assert f"Order {second.number} is marked shipped, without a tracking number." in done.text
        card = await world.card_when(second.number, lambda c: "shipped" in status_line(c))
        assert "Tracking number" not in card["text"]

        await world.run_jobs()
        texts = await world.eve_texts()
        assert f"❌ Your order {first.number} has been cancelled." in texts
        assert f"🚚 Your order {second.number} has been shipped." in texts


async def test_a_stale_press_gets_the_reason_and_the_card_shows_the_truth(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    async with staff_world(sandbox, make_settings, db, db_url) as world:
        first, second = await world.place_order(), await world.place_order(1)
        await world.run_jobs()
        first_card, second_card = await world.card(first.number), await world.card(second.number)

        # The customer cancels their unpaid order while the card still offers Confirm.
        await world.container.orders.change_status(
            first.id, OrderStatus.CANCELLED, actor=Actor.CUSTOMER, actor_user_id=first.user_id
        )
        stale = await world.maria.tap(
            "✅ Confirm", chat_id=world.group_id, message_id=first_card["message_id"]
        )
        assert stale.answer is not None and stale.answer["show_alert"] is True
        assert stale.answer["text"].startswith(
            f"Order {first.number} changed meanwhile: it is cancelled now. Nothing was done"
        )
        card = await world.card_when(first.number, lambda c: "cancelled" in status_line(c))
        assert buttons(card) == []
        assert "• cancelled — the customer, 2026-01-15 12:00 UTC" in card["text"]
        assert await order_status(db, first.id) == "cancelled"

        # Asked for a tracking number, but the order is cancelled before the answer comes.
        await world.maria.tap(
            "✅ Confirm", chat_id=world.group_id, message_id=second_card["message_id"]
        )
        await world.card_when(second.number, lambda c: "🚚 Mark shipped" in buttons(c))
        await world.maria.tap(
            "🚚 Mark shipped", chat_id=world.group_id, message_id=second_card["message_id"]
        )
        await world.container.orders.change_status(
            second.id, OrderStatus.CANCELLED, actor=Actor.STAFF
        )
        late = await world.maria.send("TRK-2", chat_id=world.group_id)
        assert f"Order {second.number} was not marked shipped: it is cancelled now." in late.text
        card = await world.card_when(second.number, lambda c: "cancelled" in status_line(c))
        assert buttons(card) == []
        assert await order_status(db, second.id) == "cancelled"

        # The conversation moved on: Maria's next message is not taken for a tracking number.
        after = await world.maria.send("thanks", chat_id=world.group_id, expect=False, wait=0.5)
        assert after.messages == []


# --------------------------------------------------------------------- /admin, maintenance


async def orders_of_the_day(world: World, clock: FrozenClock) -> None:
    """Yesterday 23:59: one order (not counted). Today: awaiting 1 × 9.90; confirmed
    2 × 9.90 and shipped 3 × 9.90 (revenue 49.50); cancelled 1 × 9.90, expired 4 × 9.90."""
    service = world.container.orders

    async def at(hour: int, minute: int, quantity: int) -> OrderView:
        clock._now = datetime(2026, 1, 15, hour, minute, tzinfo=UTC)
        return await world.place_order(quantity)

    clock._now = datetime(2026, 1, 14, 23, 59, tzinfo=UTC)
    await world.place_order(5)
    expired = await at(0, 0, 4)
    clock._now = datetime(2026, 1, 15, 1, 0, tzinfo=UTC)
    assert await service.expire_unpaid() == 2  # yesterday's too: that changes nothing
    await at(9, 0, 1)
    confirmed = await at(9, 30, 2)
    await service.change_status(confirmed.id, OrderStatus.CONFIRMED, actor=Actor.STAFF)
    shipped = await at(10, 0, 3)
    await service.change_status(shipped.id, OrderStatus.CONFIRMED, actor=Actor.STAFF)
    await service.change_status(shipped.id, OrderStatus.SHIPPED, actor=Actor.STAFF)
    cancelled = await at(11, 0, 1)
    await service.change_status(cancelled.id, OrderStatus.CANCELLED, actor=Actor.STAFF)
    assert expired.id


async def test_admin_shows_today_and_switches_maintenance(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    notice = "Closed for stock-taking <until> Monday & back"
    async with staff_world(sandbox, make_settings, db, db_url, maintenance_notice=notice) as world:
        assert isinstance(world.container.clock, FrozenClock)
        await orders_of_the_day(world, world.container.clock)

        # Not staff: /admin is answered like any command the bot does not know.
        unknown = await world.eve.send("/nosuchcommand", expect=False, wait=0.5)
        admin_by_eve = await world.eve.send("/admin", expect=False, wait=0.5)
        assert admin_by_eve.text == unknown.text.replace("/nosuchcommand", "/admin")
        assert "Revenue" not in admin_by_eve.text

        screen = await world.maria.send("/admin")
        assert screen.text.splitlines() == [
            "Tea & <Co> — today, 2026-01-15 (UTC)",
            "",
            "Orders: 5",
            "• Awaiting payment: 1 — 9.90 USD",
            "• Paid or confirmed: 2 — 49.50 USD",
            "• Cancelled or expired: 2 — 49.50 USD",
            "Revenue: 49.50 USD",
            "",
            "Maintenance mode is off: the shop is open.",
        ]
        assert buttons(screen.last) == ["🔧 Turn maintenance on", "🔄 Refresh"]

        # Eve has a button from before maintenance (the language picker).
        await world.eve.send("/language")

        switched = await world.maria.tap("🔧 Turn maintenance on")
        assert switched.answer is not None
        assert switched.answer["text"] == "Maintenance mode is on."
        assert "🔧 Maintenance mode is on: customers only see the notice." in switched.text
        assert buttons(switched.last) == ["✅ Turn maintenance off", "🔄 Refresh"]

        closed = await world.eve.send("/start")
        assert [m["text"] for m in closed.messages] == [notice]  # literally, and only that
        assert buttons(closed.last) == []
        pressed = await world.eve.tap("Русский", expect=False, wait=0.5)
        assert pressed.answer == {"text": notice, "show_alert": True, "url": None}
        assert pressed.messages == [] and pressed.edited == []

        # Staff keep working while the shop is closed.
        welcome = await world.maria.send("/start")
        assert welcome.text.startswith("Hello, Maria!")

        await world.maria.send("/admin")
        await world.maria.tap("✅ Turn maintenance off")
        reopened = await world.eve.send("/start")
        assert reopened.text.startswith(f"Hello, {HOSTILE_CUSTOMER}!")

        async with db.read() as session:
            setting = (
                await session.execute(select(Setting.value).where(Setting.key == "maintenance"))
            ).scalar_one()
            audit = (
                await session.execute(
                    select(AuditLog.action, AuditLog.entity_id, User.telegram_id)
                    .join(User, User.id == AuditLog.actor_user_id)
                    .order_by(AuditLog.id)
                )
            ).all()
        assert setting == {"enabled": False}
        assert [tuple(a) for a in audit] == [
            ("maintenance.on", "maintenance", world.maria.id),
            ("maintenance.off", "maintenance", world.maria.id),
        ]


async def test_maintenance_notice_defaults_to_the_customers_language(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    async with staff_world(sandbox, make_settings, db, db_url) as world:
        ivan = await sandbox.client.user("Ivan", language_code="ru")
        await world.maria.send("/admin")
        await world.maria.tap("🔧 Turn maintenance on")
        assert (await ivan.send("/start")).text == (
            "🔧 Магазин закрыт на обслуживание, скоро вернёмся."
        )
        assert (await world.eve.send("/start")).text == (
            "🔧 The shop is closed for maintenance, back soon."
        )
