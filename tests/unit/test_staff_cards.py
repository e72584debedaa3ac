"""The staff side without I/O: tracking numbers, the order card's buttons and history,
callback data within Telegram's 64 bytes, and the /admin screen."""

from __future__ import annotations

from datetime import UTC, date, datetime
from html.parser import HTMLParser

import pytest

from tgshop.bot.staff_callbacks import StaffOrderAction
from tgshop.bot.staff_texts import admin_screen
from tgshop.domain.money import Money
from tgshop.domain.orders import OrderStatus, PaymentStatus
from tgshop.domain.payments import Gateway
from tgshop.i18n import Translator
from tgshop.jobs.notify import cancel_confirmation_buttons, format_new_order, manager_buttons
from tgshop.services.gateway_modes import GatewayMode
from tgshop.services.ports import InlineButton
from tgshop.services.sales_stats import DayStats, GroupFigures, StatusGroup
from tgshop.services.staff import (
    CardCustomer,
    CardEvent,
    CardLine,
    InvalidTrackingNumber,
    OrderCard,
    TrackingProblem,
    parse_tracking_number,
)

AT = datetime(2026, 1, 15, 12, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def translator() -> Translator:
    return Translator.load()


def card(status: OrderStatus, *, order_id: int = 7, **changes: object) -> OrderCard:
    usd = Money(990, "USD")
    values: dict[str, object] = {
        "id": order_id,
        "number": "A00007",
        "status": status,
        "payment_status": PaymentStatus.UNPAID,
        "subtotal": usd,
        "discount": Money(0, "USD"),
        "delivery_cost": Money(0, "USD"),
        "total": usd,
        "lines": [CardLine("Sencha", "100 g", 1, usd, usd)],
        "delivery": {},
        "tracking_number": None,
        "customer": CardCustomer("Eve", None, None, 42),
        "history": [],
    }
    values.update(changes)
    return OrderCard(**values)  # type: ignore[arg-type]


def text_of(html: str) -> str:
    parts: list[str] = []
    parser = HTMLParser(convert_charrefs=True)
    parser.handle_data = parts.append  # type: ignore[method-assign]
    parser.feed(html)
    parser.close()
    return "".join(parts)


@pytest.mark.parametrize(
    ("answer", "expected"),
    [("  TRK-1 ", "TRK-1"), ("-", None), (" - ", None), ("X" * 128, "X" * 128)],
)
def test_a_tracking_number_is_one_line_of_1_to_128_characters(
    answer: str, expected: str | None
) -> None:
    assert parse_tracking_number(answer) == expected


@pytest.mark.parametrize(
    ("answer", "problem"),
    [
        ("   ", TrackingProblem.EMPTY),
        ("X" * 129, TrackingProblem.TOO_LONG),
        ("TRK\n2", TrackingProblem.NOT_ONE_LINE),
        ("TRK\t2", TrackingProblem.NOT_ONE_LINE),
    ],
)
def test_a_bad_tracking_number_says_what_is_wrong(answer: str, problem: TrackingProblem) -> None:
    with pytest.raises(InvalidTrackingNumber) as caught:
        parse_tracking_number(answer)
    assert caught.value.problem is problem


@pytest.mark.parametrize(
    ("status", "labels"),
    [
        (OrderStatus.AWAITING_PAYMENT, [["✅ Confirm"], ["❌ Cancel order"]]),
        (
            OrderStatus.CONFIRMED,
            [["🚚 Mark shipped", "📦 Mark delivered"], ["❌ Cancel order"]],
        ),
        (OrderStatus.SHIPPED, [["📦 Mark delivered"]]),
        (OrderStatus.DELIVERED, []),
        (OrderStatus.CANCELLED, []),
        (OrderStatus.EXPIRED, []),
    ],
)
def test_the_card_offers_only_what_staff_may_do_now(
    translator: Translator, status: OrderStatus, labels: list[list[str]]
) -> None:
    rows = manager_buttons(card(status), translator.get("en"))
    assert [[b.text for b in row] for row in rows] == labels
    for row in rows:
        for button in row:
            data = StaffOrderAction.unpack(button.callback_data)
            assert (data.order_id, data.seen, data.sure) == (7, status, False)


def test_callback_data_fits_telegram_even_for_huge_ids_and_long_statuses(
    translator: Translator,
) -> None:
    huge = card(OrderStatus.AWAITING_PAYMENT, order_id=2**63 - 1)
    rows = manager_buttons(huge, translator.get("en")) + cancel_confirmation_buttons(
        huge, translator.get("en")
    )
    for row in rows:
        for button in row:
            assert len(button.callback_data.encode()) <= 64
    sure = StaffOrderAction.unpack(rows[-2][0].callback_data)
    assert (sure.target, sure.sure) == (OrderStatus.CANCELLED, True)
    with pytest.raises(ValueError, match="1-64 bytes"):
        InlineButton("too long", "x" * 65)


def test_the_card_tells_who_did_what_and_when_with_names_escaped(translator: Translator) -> None:
    history = [
        CardEvent("confirmed", "staff", "Max <b>&", "max_1", None, AT),
        CardEvent("cancelled", "customer", "Eve", None, None, AT),
        CardEvent("expired", "system", None, None, "not paid <in> time", AT),
    ]
    html = format_new_order(
        card(OrderStatus.SHIPPED, history=history, tracking_number="T<1>&"),
        translator.get("en"),
    )
    assert "Max &lt;b&gt;&amp; (@max_1)" in html
    assert "T&lt;1&gt;&amp;" in html
    text = text_of(html)
    assert "Tracking number: T<1>&" in text
    assert text.endswith(
        "History\n"
        "• confirmed — Max <b>& (@max_1), 2026-01-15 12:30 UTC\n"
        "• cancelled — the customer, 2026-01-15 12:30 UTC\n"
        "• expired — automatically, 2026-01-15 12:30 UTC (not paid <in> time)"
    )
    ru = text_of(
        format_new_order(card(OrderStatus.CANCELLED, history=history[1:2]), translator.get("ru"))
    )
    assert ru.endswith("История\n• отменён — покупатель, 2026-01-15 12:30 UTC")


def test_the_admin_screen_lists_every_group_and_each_currency(translator: Translator) -> None:
    stats = DayStats(
        day=date(2026, 1, 15),
        orders=4,
        groups={
            StatusGroup.AWAITING_PAYMENT: GroupFigures(1, [Money(990, "USD")]),
            StatusGroup.ACCEPTED: GroupFigures(2, [Money(1980, "USD"), Money(500, "EUR")]),
            StatusGroup.CLOSED: GroupFigures(1, [Money(0, "USD")]),
        },
    )
    html, rows = admin_screen(translator.get("en"), "Tea & <Co>", stats, maintenance_on=True)
    assert "Tea &amp; &lt;Co&gt;" in html
    assert text_of(html).splitlines() == [
        "Tea & <Co> — today, 2026-01-15 (UTC)",
        "",
        "Orders: 4",
        "• Awaiting payment: 1 — 9.90 USD",
        "• Paid or confirmed: 2 — 19.80 USD + 5.00 EUR",
        "• Cancelled or expired: 1 — 0.00 USD",
        "Revenue: 19.80 USD + 5.00 EUR",
        "",
        "🔧 Maintenance mode is on: customers only see the notice.",
    ]
    assert [[b.text for b in row] for row in rows] == [["✅ Turn maintenance off"], ["🔄 Refresh"]]


def test_admin_screen_lists_gateway_modes_with_a_switch_where_both_are_set_up(
    translator: Translator,
) -> None:
    stats = DayStats(
        day=date(2026, 1, 15),
        orders=0,
        groups={group: GroupFigures(0, []) for group in StatusGroup},
    )
    modes = [
        GatewayMode(Gateway.TELEGRAM, "test", False),
        GatewayMode(Gateway.CRYPTOBOT, "live", True),
    ]
    html, rows = admin_screen(translator.get("en"), "Shop", stats, False, modes)
    lines = text_of(html).splitlines()
    assert lines[-3:] == [
        "Payments (new payments are made in the mode shown; earlier ones keep theirs)",
        "• Cards through Telegram: 🧪 test (credentials for this mode only)",
        "• CryptoBot: 💰 live",
    ]
    assert [[b.text for b in row] for row in rows][1:] == [
        ["🧪 CryptoBot: switch to test"],
        ["🔄 Refresh"],
    ]
    assert rows[1][0].callback_data == "gm:cryptobot:test"
