"""Order notification jobs, run by the real worker with the real handler registry, on
SQLite and PostgreSQL; Telegram is the recording fake."""

from __future__ import annotations

from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

import pytest
from sqlalchemy import select

from tests.support.fakes import FrozenClock, RecordingTelegram
from tgshop.app import Container, build_container
from tgshop.config import Settings, WorkerSettings
from tgshop.db.engine import Database
from tgshop.db.models import Order, OrderItem, OutboxJob, Product, User, Variant
from tgshop.domain.orders import Actor, OrderStatus
from tgshop.jobs.handlers import default_handlers
from tgshop.jobs.worker import Worker
from tgshop.services.orders import (
    NOTIFY_CUSTOMER_STATUS,
    NOTIFY_MANAGER_NEW_ORDER,
    OrderLine,
    PlaceOrderRequest,
)
from tgshop.services.outbox import enqueue

MANAGER_CHAT = -1001234567890
HOSTILE_FIRST = '<b>Bob</b> & "Co"'
HOSTILE_LAST = "</a>"
HOSTILE_TITLE = "Tea <i>green</i> & co"


class TelegramHtml(HTMLParser):
    """Collects the tags of a text, to prove only our own markup reaches Telegram."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.tags: set[str] = set()
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open[-1:] == [tag], f"unbalanced </{tag}>"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text += data


def parse_html(text: str) -> TelegramHtml:
    parser = TelegramHtml()
    parser.feed(text)
    parser.close()
    assert parser.open == [], f"unclosed tags {parser.open}"
    return parser


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(telegram={"manager_chat_id": MANAGER_CHAT})


@pytest.fixture
def container(
    settings: Settings, db: Database, clock: FrozenClock, telegram: RecordingTelegram
) -> Container:
    # Not closed here: the db fixture belongs to the session.
    return build_container(settings, db=db, clock=clock, telegram=telegram)


def make_worker(container: Container) -> Worker:
    settings = WorkerSettings(
        concurrency=2,
        poll_interval=0.02,
        max_attempts=5,
        backoff_base=1,
        backoff_max=60,
        lease_seconds=30,
        shutdown_grace=1,
    )
    return Worker(
        container.db, default_handlers(container), settings, container.clock, jitter=lambda: 0.0
    )


async def add_user(db: Database, **fields: Any) -> User:
    values: dict[str, Any] = {
        "telegram_id": 555001,
        "first_name": "Ann",
        "last_name": None,
        "username": "ann",
        "language_code": "en",
        "referral_code": f"ref{fields.get('telegram_id', 555001)}",
    }
    values.update(fields)
    async with db.transaction() as session:
        user = User(**values)
        session.add(user)
    return user


async def add_order(
    db: Database,
    clock: FrozenClock,
    user: User,
    *,
    items: list[tuple[str, str, int, int]] | None = None,
    delivery: dict[str, Any] | None = None,
    discount: int = 0,
    **fields: Any,
) -> Order:
    """An order row with items (title, variant title, unit price, qty), as OrderService
    would have written it."""
    lines = items if items is not None else [("Sencha", "100 g", 990, 2)]
    subtotal = sum(price * qty for _, _, price, qty in lines)
    values: dict[str, Any] = {
        "user_id": user.id,
        "status": "awaiting_payment",
        "payment_status": "unpaid",
        "currency": "USD",
        "subtotal_amount": subtotal,
        "discount_amount": discount,
        "delivery_amount": 0,
        "total_amount": subtotal - discount,
        "delivery": delivery or {},
        "created_at": clock.now(),
        "updated_at": clock.now(),
    }
    values.update(fields)
    async with db.transaction() as session:
        order = Order(**values)
        for index, (title, variant_title, price, qty) in enumerate(lines):
            order.items.append(
                OrderItem(
                    kind="physical",
                    sku=f"SKU-{index}",
                    title=title,
                    variant_title=variant_title,
                    unit_price_amount=price,
                    quantity=qty,
                    total_amount=price * qty,
                )
            )
        session.add(order)
        await session.flush()
        if "number" not in fields:
            order.number = f"A{order.id:05d}"
    return order


async def enqueue_job(db: Database, clock: FrozenClock, kind: str, payload: Any) -> bool:
    async with db.transaction() as session:
        key = f"test:{kind}:{payload}"
        return await enqueue(session, kind, payload, now=clock.now(), dedup_key=key)


async def jobs(db: Database) -> list[tuple[str, str, int, str | None]]:
    async with db.read() as session:
        rows = await session.execute(
            select(
                OutboxJob.kind, OutboxJob.status, OutboxJob.attempts, OutboxJob.last_error
            ).order_by(OutboxJob.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


# ----------------------------------------------------------------- the manager chat


async def test_the_manager_chat_gets_the_new_order_with_every_string_escaped(
    db: Database, clock: FrozenClock, telegram: RecordingTelegram, container: Container
) -> None:
    user = await add_user(
        db, first_name=HOSTILE_FIRST, last_name=HOSTILE_LAST, username="bob_co", telegram_id=4242
    )
    order = await add_order(
        db,
        clock,
        user,
        items=[(HOSTILE_TITLE, "100 g </a>", 990, 2), ("Matcha", "", 1500, 1)],
        delivery={"address": "Main St <1> & 2", "comment": "</b>call me", "floor": "<3"},
        discount=500,
    )
    await enqueue_job(db, clock, NOTIFY_MANAGER_NEW_ORDER, {"order_id": order.id})

    worker = make_worker(container)
    assert await worker.drain() == 1

    [message] = telegram.sent
    assert (message.chat_id, message.parse_mode) == (MANAGER_CHAT, "HTML")
    text = message.text
    parsed = parse_html(text)
    assert parsed.tags <= {"b", "code"}, "only our own markup"
    assert f"New order {order.number}" in parsed.text
    assert 'Customer: <b>Bob</b> & "Co" </a>' in parsed.text
    assert '&lt;b&gt;Bob&lt;/b&gt; &amp; "Co" &lt;/a&gt;' in text
    assert "Username: @bob_co" in parsed.text
    assert "Telegram ID: <code>4242</code>" in text
    assert "Status: awaiting payment, payment: unpaid" in parsed.text
    assert "• Tea <i>green</i> & co (100 g </a>) — 2 × 9.90 USD = 19.80 USD" in parsed.text
    assert "Tea &lt;i&gt;green&lt;/i&gt; &amp; co (100 g &lt;/a&gt;)" in text
    assert "• Matcha — 1 × 15.00 USD = 15.00 USD" in parsed.text
    assert "Subtotal: 34.80 USD" in parsed.text
    assert "Discount: −5.00 USD" in parsed.text
    assert "<b>Total: 29.80 USD</b>" in text
    assert "Address: Main St <1> & 2" in parsed.text
    assert "Comment: </b>call me" in parsed.text
    assert "floor: <3" in parsed.text
    assert await jobs(db) == [(NOTIFY_MANAGER_NEW_ORDER, "done", 1, None)]


async def test_a_placed_order_reaches_the_manager_chat_exactly_once(
    db: Database, clock: FrozenClock, telegram: RecordingTelegram, container: Container
) -> None:
    """End to end: OrderService writes the job in the order's transaction; the worker sends."""
    user = await add_user(db, first_name="Eve & <Co>")
    async with db.transaction() as session:
        product = Product(key="sencha", kind="physical", title="Sencha <special>")
        product.variants.append(
            Variant(
                sku="SEN-100",
                title="100 g",
                price_amount=990,
                currency="USD",
                stock_mode="tracked",
                stock_quantity=5,
            )
        )
        session.add(product)
    async with db.read() as session:
        variant_id = (await session.execute(select(Variant.id))).scalar_one()

    order = await container.orders.place_order(
        PlaceOrderRequest(
            user_id=user.id,
            lines=[OrderLine(variant_id, 3)],
            delivery={"name": "Eve", "address": "1 <Road>"},
        )
    )
    worker = make_worker(container)
    assert await worker.drain() == 1
    assert await worker.drain() == 0

    [message] = telegram.sent
    parsed = parse_html(message.text)
    assert f"New order {order.number}" in parsed.text
    assert "Customer: Eve & <Co>" in parsed.text
    assert "• Sencha <special> (100 g) — 3 × 9.90 USD = 29.70 USD" in parsed.text
    assert "Total: 29.70 USD" in parsed.text
    assert "Address: 1 <Road>" in parsed.text


async def test_without_a_manager_chat_the_job_completes_without_sending(
    db: Database,
    clock: FrozenClock,
    telegram: RecordingTelegram,
    make_settings: Callable[..., Settings],
) -> None:
    container = build_container(make_settings(), db=db, clock=clock, telegram=telegram)
    order = await add_order(db, clock, await add_user(db))
    await enqueue_job(db, clock, NOTIFY_MANAGER_NEW_ORDER, {"order_id": order.id})

    await make_worker(container).drain()
    assert telegram.sent == []
    assert await jobs(db) == [(NOTIFY_MANAGER_NEW_ORDER, "done", 1, None)]


async def test_a_huge_order_is_summarised_to_fit_one_message(
    db: Database, clock: FrozenClock, telegram: RecordingTelegram, container: Container
) -> None:
    lines = [
        (f"Product number {i} with a long name & <tags>", "size XL", 100, 1) for i in range(200)
    ]
    order = await add_order(db, clock, await add_user(db), items=lines)
    await enqueue_job(db, clock, NOTIFY_MANAGER_NEW_ORDER, {"order_id": order.id})

    await make_worker(container).drain()
    [message] = telegram.sent
    assert len(message.text) <= 4096
    parsed = parse_html(message.text)
    assert "Product number 0 with a long name & <tags>" in parsed.text
    assert "more line(s)" in parsed.text
    assert "Total: 200.00 USD" in parsed.text


async def test_a_missing_order_or_a_bad_payload_buries_the_job(
    db: Database, clock: FrozenClock, telegram: RecordingTelegram, container: Container
) -> None:
    await enqueue_job(db, clock, NOTIFY_MANAGER_NEW_ORDER, {"order_id": 999})
    await enqueue_job(db, clock, NOTIFY_MANAGER_NEW_ORDER, {"order_id": "1"})
    await enqueue_job(db, clock, NOTIFY_CUSTOMER_STATUS, {"order_id": 999})

    await make_worker(container).drain()
    assert telegram.sent == []
    assert await jobs(db) == [
        (NOTIFY_MANAGER_NEW_ORDER, "dead", 1, "PermanentJobError: order 999 does not exist"),
        (
            NOTIFY_MANAGER_NEW_ORDER,
            "dead",
            1,
            "PermanentJobError: payload.order_id: expected an integer, got '1'",
        ),
        (
            NOTIFY_CUSTOMER_STATUS,
            "dead",
            1,
            "PermanentJobError: payload.status: expected a non-empty string, got None",
        ),
    ]


async def test_a_transient_send_failure_is_retried_and_sent_once(
    db: Database, clock: FrozenClock, telegram: RecordingTelegram, container: Container
) -> None:
    order = await add_order(db, clock, await add_user(db))
    await enqueue_job(db, clock, NOTIFY_MANAGER_NEW_ORDER, {"order_id": order.id})
    telegram.fail_next = 1

    worker = make_worker(container)
    await worker.drain()
    assert telegram.sent == []
    assert (await jobs(db))[0][:3] == (NOTIFY_MANAGER_NEW_ORDER, "pending", 1)

    clock.advance(minutes=1)
    await worker.drain()
    await worker.drain()
    assert len(telegram.sent) == 1
    assert (await jobs(db))[0][:3] == (NOTIFY_MANAGER_NEW_ORDER, "done", 2)


async def test_without_a_telegram_client_the_job_waits_for_one(
    db: Database, clock: FrozenClock, settings: Settings
) -> None:
    container = build_container(settings, db=db, clock=clock, telegram=None)
    order = await add_order(db, clock, await add_user(db))
    await enqueue_job(db, clock, NOTIFY_MANAGER_NEW_ORDER, {"order_id": order.id})

    await make_worker(container).drain()
    [(_, status, attempts, error)] = await jobs(db)
    assert (status, attempts) == ("pending", 1)
    assert "TGSHOP_BOT_TOKEN is not set" in (error or "")


# ------------------------------------------------------------------------ the customer


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("ru", "🚚 Ваш заказ <b>A00001</b> отправлен.\nТрек-номер: <code>TRK &lt;1&gt;</code>"),
        ("ru-RU", "🚚 Ваш заказ <b>A00001</b> отправлен.\nТрек-номер: <code>TRK &lt;1&gt;</code>"),
        (
            "en",
            "🚚 Your order <b>A00001</b> has been shipped.\n"
            "Tracking number: <code>TRK &lt;1&gt;</code>",
        ),
        (
            "de",
            "🚚 Your order <b>A00001</b> has been shipped.\n"
            "Tracking number: <code>TRK &lt;1&gt;</code>",
        ),
        (
            None,
            "🚚 Your order <b>A00001</b> has been shipped.\n"
            "Tracking number: <code>TRK &lt;1&gt;</code>",
        ),
    ],
    ids=["ru", "ru-RU", "en", "de", "none"],
)
async def test_the_customer_hears_of_a_status_change_in_their_language(
    db: Database,
    clock: FrozenClock,
    telegram: RecordingTelegram,
    container: Container,
    language: str | None,
    expected: str,
) -> None:
    user = await add_user(db, telegram_id=777, language_code=language)
    order = await add_order(
        db, clock, user, number="A00001", status="shipped", tracking_number="TRK <1>"
    )
    await enqueue_job(
        db, clock, NOTIFY_CUSTOMER_STATUS, {"order_id": order.id, "status": "shipped"}
    )

    await make_worker(container).drain()
    [message] = telegram.sent
    assert (message.chat_id, message.parse_mode, message.text) == (777, "HTML", expected)


async def test_an_unknown_status_still_tells_the_customer_something(
    db: Database, clock: FrozenClock, telegram: RecordingTelegram, container: Container
) -> None:
    order = await add_order(db, clock, await add_user(db), number="A<7>")
    await enqueue_job(
        db, clock, NOTIFY_CUSTOMER_STATUS, {"order_id": order.id, "status": "on_hold <x>"}
    )
    await make_worker(container).drain()
    [message] = telegram.sent
    assert message.text == "Your order <b>A&lt;7&gt;</b> is now: on_hold &lt;x&gt;."


async def test_a_customer_who_blocked_the_bot_is_not_retried(
    db: Database, clock: FrozenClock, telegram: RecordingTelegram, container: Container
) -> None:
    order = await add_order(db, clock, await add_user(db))
    await enqueue_job(
        db, clock, NOTIFY_CUSTOMER_STATUS, {"order_id": order.id, "status": "cancelled"}
    )
    telegram.fail_next, telegram.fail_permanently = 1, True

    worker = make_worker(container)
    await worker.drain()
    clock.advance(hours=1)
    await worker.drain()
    assert telegram.sent == []
    [(_, status, attempts, error)] = await jobs(db)
    assert (status, attempts) == ("dead", 1)
    assert "injected failure" in (error or "")


async def test_a_status_change_through_the_service_notifies_the_customer_once(
    db: Database, clock: FrozenClock, telegram: RecordingTelegram, container: Container
) -> None:
    user = await add_user(db, telegram_id=9001, language_code="ru")
    order = await add_order(db, clock, user)
    await container.orders.change_status(order.id, OrderStatus.CANCELLED, actor=Actor.STAFF)

    worker = make_worker(container)
    await worker.drain()
    await worker.drain()
    assert [(m.chat_id, m.text) for m in telegram.sent] == [
        (9001, f"❌ Ваш заказ <b>{order.number}</b> отменён.")
    ]


async def test_a_customer_cancelling_is_told_to_the_manager_chat_too(
    db: Database, clock: FrozenClock, telegram: RecordingTelegram, container: Container
) -> None:
    user = await add_user(db, telegram_id=9002, first_name=HOSTILE_FIRST)
    order = await add_order(db, clock, user)
    await container.orders.change_status(
        order.id, OrderStatus.CANCELLED, actor=Actor.CUSTOMER, actor_user_id=user.id
    )
    worker = make_worker(container)
    await worker.drain()
    await worker.drain()
    to_managers = [m.text for m in telegram.sent if m.chat_id == MANAGER_CHAT]
    assert to_managers == [
        f"ℹ️ Order <b>{order.number}</b> is now cancelled: changed by the customer, "
        '&lt;b&gt;Bob&lt;/b&gt; &amp; "Co".'
    ]
    assert [m.chat_id for m in telegram.sent if m.chat_id != MANAGER_CHAT] == [9002]
