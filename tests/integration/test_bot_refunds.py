"""Refunds in the chats, end to end through the sandbox over HTTP: a customer asks with
/refund and from My orders, staff decide on the manager chat's card (another amount, decline
with a reason) or refund by command, the worker sends the money and the customer hears of
every step. The bot runs behind the webhook; jobs run on the real worker."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
from sqlalchemy import select

from tests.integration.test_bot_checkout import _customer_with_cart
from tests.integration.test_bot_payments import _guide
from tests.integration.test_bot_staff import HOSTILE_CUSTOMER, World, eventually, staff_world
from tests.integration.test_bot_webhook import bot_settings, shop
from tests.support.factories import stock_of
from tests.support.fakes import FrozenClock
from tests.support.sandbox import RunningSandbox
from tests.support.workers import run_jobs, worker_side
from tgshop.config import Settings
from tgshop.db.engine import Database
from tgshop.db.models import Order, Refund
from tgshop.domain.catalog import ProductKind
from tgshop.sandbox.client import buttons

pytestmark = pytest.mark.timeout(120)

HOSTILE_REASON = "Box <b>crushed</b> & wet"


async def refund_card(world: World, number: str, nth: int = 0) -> dict:
    """The ``nth`` refund-request card of order ``number`` in the manager chat."""
    cards = [
        m
        for m in await world.group_messages()
        if m["from"]["is_bot"]
        and (m.get("text") or "").startswith(f"↩️ Refund request for order {number}")
    ]
    assert len(cards) > nth, f"no refund card {nth} for {number}"
    return cards[nth]


async def test_asking_deciding_and_receiving_a_refund_in_the_chats(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    async with staff_world(sandbox, make_settings, db, db_url) as world:
        order = await world.place_order()  # 2 × 9.90 = 19.80 USD
        paid = await world.maria.send(f"/markpaid {order.number} cash on pickup")
        assert "marked paid" in paid.text
        await world.run_jobs()

        # /refund asks for numbers; a wrong one is named, and nothing is sent to the shop.
        asked = await world.eve.send("/refund")
        assert "Which orders would you like a refund for?" in asked.text
        wrong = await world.eve.send(f"{order.number} Z99999")
        assert "A refund cannot be asked for now:" in wrong.text
        assert "• Z99999: you have no order with this number" in wrong.text
        reason_asked = await world.eve.send(order.number.lower())
        assert f"Why would you like a refund of {order.number}?" in reason_asked.text
        short = await world.eve.send("no")
        assert "a reason of 3 to 500 characters" in short.text
        sent = await world.eve.send(HOSTILE_REASON)
        assert "Your request has gone to the shop" in sent.text
        assert f"• {order.number}: 19.80 USD" in sent.text

        await world.run_jobs()
        card = await refund_card(world, order.number)
        assert f"Customer: {HOSTILE_CUSTOMER}" in card["text"]  # shown, never parsed
        assert f"Reason: {HOSTILE_REASON}" in card["text"]
        assert "Amount: 19.80 USD of 19.80 USD, paid with money received by hand" in card["text"]
        assert buttons(card) == ["✅ Refund 19.80 USD", "✏️ Another amount", "✖ Decline"]

        refused = await world.nick.tap(
            "✅ Refund 19.80 USD", chat_id=world.group_id, expect=False, wait=0.5
        )
        assert (
            refused.answer is not None and refused.answer["text"] == "Only shop staff can do this."
        )

        prompt = await world.maria.tap(
            "✏️ Another amount", chat_id=world.group_id, message_id=card["message_id"]
        )
        assert f"reply with the amount to refund for order {order.number}" in prompt.text
        assert "(at most 19.80 USD)" in prompt.text
        too_much = await world.maria.send("25", chat_id=world.group_id)
        assert "Not accepted: the amount must be more than zero and at most 19.80 USD" in (
            too_much.text
        )
        done = await world.maria.send("5.00", chat_id=world.group_id)
        assert f"Refund for order {order.number} approved: 5.00 USD" in done.text
        card = await eventually(
            lambda: refund_card(world, order.number), lambda c: "Approved by Maria" in c["text"]
        )
        assert buttons(card) == []

        await world.run_jobs()
        texts = await world.eve_texts()
        assert (
            f"✅ Your refund for order {order.number} is approved: 5.00 USD goes to your balance."
            in texts
        )
        assert (
            "↩️ 5.00 USD has been refunded to your balance. You can pay for your next order with it."
            in texts
        )
        balance = await world.eve.send("/balance")
        assert "Your balance: 5.00 USD" in balance.text

        # From My orders: the button asks for the reason at once; staff decline it.
        listed = await world.eve.send("My orders")
        await world.eve.tap(buttons(listed.last)[0])
        again = await world.eve.tap("↩️ Ask for a refund")
        assert f"Why would you like a refund of {order.number}?" in again.text
        await world.eve.send("the rest, please")
        await world.run_jobs()
        second = await refund_card(world, order.number, 1)
        assert "Amount: 14.80 USD of 19.80 USD" in second["text"]
        await world.maria.tap("✖ Decline", chat_id=world.group_id, message_id=second["message_id"])
        declined = await world.maria.send("Used <item>", chat_id=world.group_id)
        assert "declined. The customer is told why." in declined.text
        await world.run_jobs()
        assert (
            f"Your refund request for order {order.number} was declined. The shop says: Used <item>"
            in await world.eve_texts()
        )

        # Staff refund the rest by command; the order was never shipped: cancelled, stock back.
        usage = await world.maria.send("/refundorder")
        assert "Usage: /refundorder" in usage.text
        issued = await world.maria.send(f"/refundorder {order.number} goodwill after all")
        assert f"Refund of 14.80 USD for order {order.number} approved" in issued.text
        await world.run_jobs()
        async with db.read() as session:
            row = (
                await session.execute(
                    select(Order.status, Order.payment_status).where(Order.id == order.id)
                )
            ).one()
        assert tuple(row) == ("cancelled", "refunded")
        assert await stock_of(db, world.variant_id) == 50
        assert "Your balance: 19.80 USD" in (await world.eve.send("/balance")).text
        # A customer cannot use the staff command: it is an unknown command to them.
        stranger = await world.eve.send(f"/refundorder {order.number} me too")
        assert "Refund of" not in stranger.text


async def test_a_stars_order_refunded_in_full_goes_back_in_stars(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    guide = await _guide(db)
    base = bot_settings(make_settings, sandbox, db_url)
    maria = await sandbox.client.user("Maria")
    group = await sandbox.client.group("Orders", [maria])
    settings = dataclasses.replace(
        base,
        telegram=base.telegram.model_copy(
            update={"manager_chat_id": group["id"], "staff_ids": [maria.id]}
        ),
        # This shop takes digital goods back for a day (the default is not on request).
        payments=base.payments.model_copy(
            update={"refund_windows": {**base.payments.refund_windows, ProductKind.DIGITAL: 1}}
        ),
    )
    clock = FrozenClock()
    async with (
        worker_side(settings, db, clock) as worker,
        shop(sandbox, settings, db, clock=clock),
    ):
        ann = await _customer_with_cart(sandbox, db, "Ann", (guide.variants[0].id, 1))
        await ann.tap("Cart")
        await ann.tap("✅ Checkout")
        await ann.tap("✅ Place order")
        await ann.tap("⭐ Pay with Telegram Stars")
        await ann.pay()
        async with db.read() as session:
            number = (await session.execute(select(Order.number))).scalar_one()
        await ann.send(f"/refund {number}")
        sent = await ann.send("wrong file")
        assert f"• {number}: 9.00 USD" in sent.text
        await run_jobs(worker)
        card = next(
            m
            for m in (await sandbox.client.chat(group["id"]))["messages"]
            if "Refund request" in (m.get("text") or "")
        )
        assert "paid with Telegram Stars" in card["text"]
        await maria.tap("✅ Refund 9.00 USD", chat_id=group["id"])
        await run_jobs(worker)
        history = await ann.history()
        refunded = [m for m in history if m.get("refunded_payment")]
        assert [m["refunded_payment"]["total_amount"] for m in refunded] == [30]
        texts = [m.get("text") or "" for m in history]
        assert any("9.00 USD goes back the way you paid" in t for t in texts), texts
        assert any("30 XTR has been refunded to you" in t for t in texts), texts
    async with db.read() as session:
        row = (await session.execute(select(Order.status, Order.payment_status))).one()
        refund = (await session.execute(select(Refund.status, Refund.amount))).one()
    assert tuple(row) == ("cancelled", "refunded")
    assert tuple(refund) == ("succeeded", 30)
    assert await stock_of(db, guide.variants[0].id) == 4
