"""The customer bot's whole story against a real `tgshop serve` process, once behind the
webhook and once by long polling: a new customer goes from /start through the catalog, the
cart and checkout to a placed order; the order appears in the manager chat; a staff member
confirms and ships it with a tracking number; the customer hears of each step and sees it
under "My orders". Names and titles are HTML-hostile all along."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.e2e.test_polling import start as start_polling
from tests.e2e.test_polling import wait_ready
from tests.e2e.test_webhook_cli import tgshop
from tests.support.factories import make_category, make_product
from tests.support.processes import clean_env, free_port
from tests.support.sandbox import RunningSandbox
from tgshop.db.engine import Database
from tgshop.db.models import Order
from tgshop.sandbox.client import buttons

pytestmark = pytest.mark.timeout(180)

SECRET = "story-webhook-secret-0123456789"
CUSTOMER = "<b>Eve</b> & </a>"
PRODUCT = "Sencha <i>&</i> </a>"


async def serve(cwd: Path, env: dict[str, str], port: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "tgshop", "serve", "--port", str(port)),
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


@asynccontextmanager
async def running_shop(
    mode: str, sandbox: RunningSandbox, tmp_path: Path, env: dict[str, str]
) -> AsyncIterator[None]:
    port = free_port()
    if mode == "webhook":
        env = env | {
            "TGSHOP_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "TGSHOP_WEBHOOK_SECRET": SECRET,
        }
        process = await serve(tmp_path, env, port)
    else:
        process = await start_polling(tmp_path, env, port)
    try:
        await wait_ready(port, process)
        if mode == "webhook":
            code, out, err = await tgshop(tmp_path, env, "webhook", "set")
            assert code == 0, out + err
        yield
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        output = (await asyncio.wait_for(process.communicate(), 30))[0].decode()
        assert process.returncode == 0, output
        assert "Traceback" not in output, output


async def eventually(read: Callable[[], Awaitable[Any]], check: Callable[[Any], bool]) -> Any:
    for _ in range(200):
        value = await read()
        if check(value):
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened; last seen: {value!r}")


def bot_texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m.get("text") or "" for m in messages if m["from"]["is_bot"]]


@pytest.mark.parametrize("mode", ["webhook", "polling"])
async def test_from_start_to_a_shipped_order(
    mode: str, sandbox: RunningSandbox, tmp_path: Path, db: Database, db_url: str
) -> None:
    tea = await make_category(db, "Tea & <Co>")
    await make_product(
        db, PRODUCT, category_id=tea.id, variants=[("50 g", 990, 10), ("100 g", 1790, 5)]
    )
    eve = await sandbox.client.user(CUSTOMER, last_name="Smith")
    maria = await sandbox.client.user("Maria", username="maria")
    group = await sandbox.client.group("Orders", [maria])
    bot = sandbox.sandbox.bot(sandbox.token)
    bot.webhook = None
    env = clean_env(
        TGSHOP_BOT_TOKEN=sandbox.token,
        TGSHOP_TELEGRAM_API_URL=sandbox.url,
        TGSHOP_DATABASE_URL=db_url,
        TGSHOP_MANAGER_CHAT_ID=str(group["id"]),
        TGSHOP_STAFF_IDS=str(maria.id),
        TGSHOP_WORKER_POLL_INTERVAL="0.1",
    )
    async with running_shop(mode, sandbox, tmp_path, env):
        welcome = await eve.send("/start", wait=20)
        assert welcome.text.startswith(f"Hello, {CUSTOMER}!")

        # Catalog → category → product card → second variant, quantity 2 → cart.
        await eve.tap("Catalog")
        await eve.tap("Tea & <Co>")
        card = await eve.tap(f"{PRODUCT} · from 9.90 USD")
        assert PRODUCT in card.text
        await eve.tap("100 g · 17.90 USD")
        await eve.tap("+")
        added = await eve.tap("🛒 Add to cart")
        assert added.answer is not None and added.answer["text"] == f"Added: 2 × {PRODUCT} (100 g)"
        cart = await eve.tap("Go to cart")
        assert "Total: 35.80 USD" in cart.text

        # Checkout: name, phone by the contact button, address by location, a comment.
        await eve.tap("✅ Checkout")
        await eve.tap(f"{CUSTOMER} Smith")
        await eve.tap("📱 Share my phone number")
        await eve.tap("📍 Send my location")
        summary = await eve.send("Ring twice & <wait>")
        assert "Total: 35.80 USD" in summary.text
        assert "Ring twice & <wait>" in summary.text
        placed = await eve.tap("✅ Place order")
        assert "Thank you! Order" in placed.text
        async with db.read() as session:
            order_id, number = (await session.execute(select(Order.id, Order.number))).one()

        # The manager chat gets the order card from the worker; staff confirm and ship.
        def order_card(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
            return next(
                (m for m in messages if f"New order {number}" in (m.get("text") or "")), None
            )

        async def group_messages() -> list[dict[str, Any]]:
            return list((await sandbox.client.chat(group["id"]))["messages"])

        card_message = order_card(await eventually(group_messages, order_card))
        assert card_message is not None
        assert f"Customer: {CUSTOMER} Smith" in card_message["text"]
        assert f"{PRODUCT} (100 g) — 2 × 17.90 USD" in card_message["text"]
        assert buttons(card_message) == ["✅ Confirm", "❌ Cancel order"]
        await maria.tap("✅ Confirm", chat_id=group["id"])
        await maria.tap("🚚 Mark shipped", chat_id=group["id"])
        await maria.send("TRACK-<42>", chat_id=group["id"])

        # The customer hears of each step (jobs run side by side: any order).
        async def eve_history() -> list[dict[str, Any]]:
            return await eve.history()

        def told(messages: list[dict[str, Any]]) -> bool:
            texts = "\n".join(bot_texts(messages))
            return f"order {number} is confirmed" in texts and "TRACK-<42>" in texts

        await eventually(eve_history, told)
        mine = await eve.tap("My orders")
        label = next(b for b in buttons(mine.last) if b.startswith(f"{number} · "))
        assert label.endswith("· shipped")
        detail = await eve.tap(label)
        assert "Status: shipped" in detail.text and "TRACK-&lt;42&gt;" not in detail.text
        assert "Tracking number: TRACK-<42>" in detail.text
    async with db.read() as session:
        order = await session.get(Order, order_id)
        assert order is not None and order.status == "shipped"
        assert order.tracking_number == "TRACK-<42>"
        assert order.delivery["comment"] == "Ring twice & <wait>"
        assert order.delivery["phone"] == f"+1202555{eve.id % 10_000:04d}"
        assert order.delivery["latitude"] == pytest.approx(51.5007)
