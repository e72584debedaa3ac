"""Order notifications: the manager chat hears of new orders, customers of status changes.

Rules:
- every customer- or merchant-supplied string (names, usernames, product titles, delivery
  details, order numbers) is HTML-escaped before it goes into a ``parse_mode=HTML`` text;
  only the markup of our own catalogs is trusted;
- the manager chat reads the shop's default language (en) until staff choose their own;
  a customer reads Russian when their Telegram language is Russian, English otherwise;
- no manager chat configured → the job completes with a warning (nothing to retry);
  a missing order or a malformed payload is permanent (the job goes dead at once);
  a blocked bot or a vanished chat surfaces as a permanent ``TelegramSendError``;
- a message never exceeds Telegram's 4096 characters: surplus order lines are summarised.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.orm import selectinload

from tgshop.db.engine import Database
from tgshop.db.models import Order, User
from tgshop.domain.money import Money
from tgshop.i18n import DEFAULT_LOCALE, Translations, Translator
from tgshop.jobs.job import Job, PermanentJobError
from tgshop.services.ports import TelegramClient

log = structlog.get_logger("tgshop.jobs.notify")

MAX_MESSAGE_LENGTH = 4096
CUSTOMER_LOCALES = frozenset({"ru"})
DELIVERY_FIELDS = ("name", "phone", "country", "city", "address", "postcode", "method", "comment")


@dataclass(frozen=True)
class NotifyDeps:
    db: Database
    telegram: TelegramClient | None
    translator: Translator
    manager_chat_id: int | None
    staff_locale: str = DEFAULT_LOCALE


class TelegramNotConfigured(Exception):
    """No bot token: nothing can be sent yet. Retried, so a token set soon still delivers."""


def _e(value: Any) -> str:
    # Text content only needs <, > and & escaped (Telegram's own rule); no catalog message
    # puts a parameter inside an attribute, where quotes would matter.
    return html.escape(str(value), quote=False)


def _money(amount: int, currency: str) -> str:
    return f"{Money(amount, currency).to_decimal_string()} {currency}"


def _order_number(order: Order) -> str:
    return order.number or f"#{order.id}"


def _payload_int(job: Job, key: str) -> int:
    value = job.payload.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PermanentJobError(f"payload.{key}: expected an integer, got {value!r}")
    return value


def _payload_str(job: Job, key: str) -> str:
    value = job.payload.get(key)
    if not isinstance(value, str) or not value:
        raise PermanentJobError(f"payload.{key}: expected a non-empty string, got {value!r}")
    return value


def customer_locale(user: User) -> str:
    language = (user.language_code or "").replace("-", "_").split("_", 1)[0].lower()
    return language if language in CUSTOMER_LOCALES else DEFAULT_LOCALE


def _label(t: Translations, prefix: str, value: str) -> str:
    """A translated label for a known code, else the code itself (escaped by the caller)."""
    key = f"{prefix}.{value}"
    text = t.gettext(key)
    return value if text == key else text


def _delivery_lines(t: Translations, delivery: dict[str, Any]) -> list[str]:
    known = [key for key in DELIVERY_FIELDS if key in delivery]
    others = sorted(key for key in delivery if key not in DELIVERY_FIELDS)
    lines = []
    for key in known + others:
        value = delivery[key]
        if value is None or value == "" or value == [] or value == {}:
            continue
        label = _label(t, "delivery.field", key)
        lines.append(t.gettext("notify.new_order.delivery_field", label=_e(label), value=_e(value)))
    return lines


def format_new_order(order: Order, user: User, t: Translations) -> str:
    """The manager-chat announcement of a new order (HTML, at most 4096 characters)."""

    def amount(value: int) -> str:
        return _e(_money(value, order.currency))

    name = " ".join(part for part in (user.first_name, user.last_name) if part) or "—"
    head = [
        t.gettext("notify.new_order.title", number=_e(_order_number(order))),
        "",
        t.gettext("notify.new_order.customer", name=_e(name)),
    ]
    if user.username:
        head.append(t.gettext("notify.new_order.username", username=_e(user.username)))
    head.append(t.gettext("notify.new_order.telegram_id", telegram_id=_e(user.telegram_id)))
    head.append(
        t.gettext(
            "notify.new_order.status",
            status=_e(_label(t, "order.status", order.status)),
            payment_status=_e(_label(t, "payment.status", order.payment_status)),
        )
    )
    items = []
    for item in order.items:
        title = f"{item.title} ({item.variant_title})" if item.variant_title else item.title
        items.append(
            t.gettext(
                "notify.new_order.line",
                title=_e(title),
                quantity=item.quantity,
                unit_price=amount(item.unit_price_amount),
                line_total=amount(item.total_amount),
            )
        )
    totals = [""]
    if order.discount_amount or order.delivery_amount:
        totals.append(t.gettext("notify.new_order.subtotal", amount=amount(order.subtotal_amount)))
    if order.discount_amount:
        totals.append(t.gettext("notify.new_order.discount", amount=amount(order.discount_amount)))
    if order.delivery_amount:
        totals.append(
            t.gettext("notify.new_order.delivery_cost", amount=amount(order.delivery_amount))
        )
    totals.append(t.gettext("notify.new_order.total", amount=amount(order.total_amount)))
    delivery = _delivery_lines(t, dict(order.delivery or {}))

    def render(shown_items: int, shown_delivery: int) -> str:
        lines = [*head, "", t.gettext("notify.new_order.items"), *items[:shown_items]]
        if shown_items < len(items):
            lines.append(t.gettext("notify.new_order.more_items", count=len(items) - shown_items))
        lines += totals
        if shown_delivery:
            lines += ["", t.gettext("notify.new_order.delivery"), *delivery[:shown_delivery]]
        return "\n".join(lines)

    # Too long for one message: summarise order lines first, then drop delivery fields —
    # whole lines only, so no tag or entity is ever cut in half.
    shown_items, shown_delivery = len(items), len(delivery)
    text = render(shown_items, shown_delivery)
    while len(text) > MAX_MESSAGE_LENGTH and (shown_items or shown_delivery):
        if shown_items:
            shown_items -= 1
        else:
            shown_delivery -= 1
        text = render(shown_items, shown_delivery)
    return text


def format_status_change(order: Order, status: str, t: Translations) -> str:
    """The customer's message about their order reaching ``status`` (HTML)."""
    number = _e(_order_number(order))
    key = f"notify.status.{status}"
    text = t.gettext(key, number=number)
    if text == key:
        text = t.gettext(
            "notify.status.other", number=number, status=_e(_label(t, "order.status", status))
        )
    if status == "shipped" and order.tracking_number:
        text += "\n" + t.gettext(
            "notify.status.tracking", tracking_number=_e(order.tracking_number)
        )
    return text


async def _load(db: Database, order_id: int) -> tuple[Order, User]:
    async with db.read() as session:
        order = await session.get(Order, order_id, options=[selectinload(Order.items)])
        if order is None:
            raise PermanentJobError(f"order {order_id} does not exist")
        user = await session.get(User, order.user_id)
        if user is None:  # the foreign key forbids it; say so rather than crash obscurely
            raise PermanentJobError(f"order {order_id} has no user {order.user_id}")
        session.expunge_all()  # keep the loaded state past the read-only rollback
        return order, user


def _client(deps: NotifyDeps) -> TelegramClient:
    if deps.telegram is None:
        raise TelegramNotConfigured("no Telegram client: TGSHOP_BOT_TOKEN is not set")
    return deps.telegram


async def notify_manager_new_order(deps: NotifyDeps, job: Job) -> None:
    """Job ``notify_manager_new_order`` — payload ``{"order_id": int}``."""
    order_id = _payload_int(job, "order_id")
    if deps.manager_chat_id is None:
        log.warning(
            "notify.no_manager_chat",
            order_id=order_id,
            hint="set TGSHOP_MANAGER_CHAT_ID to get new orders in a chat",
        )
        return
    order, user = await _load(deps.db, order_id)
    text = format_new_order(order, user, deps.translator.get(deps.staff_locale))
    await _client(deps).send_message(deps.manager_chat_id, text, parse_mode="HTML")


async def notify_customer_order_status(deps: NotifyDeps, job: Job) -> None:
    """Job ``notify_customer_order_status`` — payload ``{"order_id": int, "status": str}``."""
    order_id = _payload_int(job, "order_id")
    status = _payload_str(job, "status")
    order, user = await _load(deps.db, order_id)
    text = format_status_change(order, status, deps.translator.get(customer_locale(user)))
    await _client(deps).send_message(user.telegram_id, text, parse_mode="HTML")
