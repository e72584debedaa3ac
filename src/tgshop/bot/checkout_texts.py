"""Texts and keyboards of checkout and of "My orders".

Every customer- or merchant-supplied string (names, addresses, comments, product titles,
order numbers) is escaped here; the catalogs' own markup is trusted.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiogram.types import KeyboardButton, ReplyKeyboardMarkup
from babel.dates import format_datetime

from tgshop.bot.catalog_texts import e
from tgshop.domain.delivery import DeliveryProblem
from tgshop.domain.errors import OutOfStock
from tgshop.i18n.translator import Translations
from tgshop.services.cart import CartView
from tgshop.services.order_views import OrderView

TEXT_LIMIT = 4096
MAX_LINES_SHOWN = 20
TITLE_LENGTH = 80
HISTORY_SHOWN = 12


def when(t: Translations, moment: datetime) -> str:
    """A date and time in the reader's language (shown in UTC, and said so)."""
    return format_datetime(moment.astimezone(UTC), "short", tzinfo=UTC, locale=t.locale) + " UTC"


def label(t: Translations, prefix: str, code: str) -> str:
    key = f"{prefix}.{code}"
    text = t.gettext(key)
    return code if text == key else text


def problem_text(t: Translations, problem: DeliveryProblem) -> str:
    """Why an answer was refused, in the reader's language."""
    key = f"bot.checkout.problem.{problem.field}.{problem.reason}"
    text = t.gettext(key, **problem.params)
    return e(problem.message) if text == key else text


def shortage_text(t: Translations, error: OutOfStock) -> str:
    lines = [
        t.gettext(
            "bot.checkout.shortage_line",
            title=e(s.title),
            requested=s.requested,
            available=s.available,
        )
        for s in error.shortages
    ]
    return "\n".join([t.gettext("bot.checkout.out_of_stock"), *lines])


def step_keyboard(*rows: list[KeyboardButton]) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(keyboard=list(rows), resize_keyboard=True, one_time_keyboard=False)


def cancel_button(t: Translations) -> list[KeyboardButton]:
    return [KeyboardButton(text=t.gettext("bot.checkout.cancel_button"))]


def _cut(text: str, limit: int = TITLE_LENGTH) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _fit(render: Any, rows: int) -> str:
    """The longest rendering that Telegram accepts: order lines are summarised, whole lines
    at a time, so no tag is ever cut in half."""
    shown = min(rows, MAX_LINES_SHOWN)
    text = render(shown)
    while len(text) > TEXT_LIMIT and shown > 1:
        shown -= 1
        text = render(shown)
    return str(text)


def _lines(t: Translations, rows: list[str], shown: int) -> list[str]:
    out = rows[:shown]
    if len(rows) > shown:
        out.append(t.gettext("bot.checkout.more_lines", count=len(rows) - shown))
    return out


def _item(t: Translations, title: str, variant: str, quantity: int, total: object) -> str:
    return t.gettext(
        "bot.checkout.item",
        title=e(_cut(title)),
        variant=e(_cut(variant)),
        quantity=quantity,
        line_total=e(total),
    )


def delivery_lines(t: Translations, delivery: dict[str, Any]) -> list[str]:
    lines = []
    for key in ("name", "phone", "address", "comment"):
        value = delivery.get(key)
        if value:
            lines.append(
                t.gettext(
                    "bot.checkout.field", label=e(label(t, "delivery.field", key)), value=e(value)
                )
            )
    return lines


def summary_text(
    t: Translations, cart: CartView, delivery: dict[str, Any], *, changed: bool = False
) -> str:
    """The confirmation screen: what is bought, for how much, where it goes, how it is paid."""
    items = [
        _item(t, line.product_title, line.variant_title, line.quantity, line.line_total)
        for line in cart.lines
    ]
    details = delivery_lines(t, delivery)

    def render(shown: int) -> str:
        parts = [t.gettext("bot.checkout.summary_title")]
        if changed:
            parts.append(t.gettext("bot.checkout.total_changed"))
        parts += [
            "",
            *_lines(t, items, shown),
            "",
            t.gettext("bot.checkout.total", total=e(cart.total)),
        ]
        if details:
            parts += ["", t.gettext("bot.checkout.delivery_title"), *details]
        parts += ["", t.gettext("bot.checkout.payment_on_delivery")]
        return "\n".join(parts)

    return _fit(render, len(items))


def order_line(t: Translations, order: OrderView) -> str:
    """One order as a button label: number, date, total, status."""
    return t.gettext(
        "bot.orders.list_item",
        number=order.number,
        date=format_datetime(order.created_at.astimezone(UTC), "dd.MM", locale=t.locale),
        total=order.total,
        status=label(t, "order.status", order.status.value),
    )


def order_text(t: Translations, order: OrderView) -> str:
    """An order in full: status, lines, total, delivery, tracking and its history."""
    items = [_item(t, i.title, i.variant_title, i.quantity, i.total) for i in order.items]
    head = [
        t.gettext(
            "bot.orders.detail_title", number=e(order.number), date=e(when(t, order.created_at))
        ),
        t.gettext(
            "bot.orders.status",
            status=e(label(t, "order.status", order.status.value)),
            payment_status=e(label(t, "payment.status", order.payment_status.value)),
        ),
    ]
    tail = ["", t.gettext("bot.checkout.total", total=e(order.total))]
    details = delivery_lines(t, order.delivery)
    if details:
        tail += ["", t.gettext("bot.checkout.delivery_title"), *details]
    if order.tracking_number:
        tail.append(t.gettext("bot.orders.tracking", tracking_number=e(order.tracking_number)))
    if order.status.value == "awaiting_payment" and order.expires_at is not None:
        tail.append(t.gettext("bot.orders.expires", when=e(when(t, order.expires_at))))
    history = [
        t.gettext(
            "bot.orders.history_line",
            when=e(when(t, event.at)),
            status=e(label(t, "order.status", event.to_status)),
            actor=e(label(t, "bot.orders.actor", event.actor)),
        )
        for event in order.events
    ]
    tail += ["", t.gettext("bot.orders.history_title"), *history[-HISTORY_SHOWN:]]
    return _fit(lambda shown: "\n".join([*head, "", *_lines(t, items, shown), *tail]), len(items))
