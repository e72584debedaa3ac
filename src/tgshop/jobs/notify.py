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
- a message never exceeds Telegram's 4096 characters: surplus order lines are summarised;
- the manager-chat card carries a button for each move staff may make from the order's
  current status (bot/routers/staff.py handles them and redraws the card after each).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import structlog
from sqlalchemy.orm import selectinload

from tgshop.bot.staff_callbacks import StaffOrderAction, StaffOrderShow
from tgshop.db.engine import Database
from tgshop.db.models import Order, User
from tgshop.domain.errors import NotFound
from tgshop.domain.money import Money
from tgshop.domain.orders import OrderStatus
from tgshop.i18n import DEFAULT_LOCALE, Translations, Translator
from tgshop.jobs.job import Job, PermanentJobError
from tgshop.services.ports import InlineButton, TelegramClient
from tgshop.services.staff import OrderCard, load_order_card

log = structlog.get_logger("tgshop.jobs.notify")

MAX_MESSAGE_LENGTH = 4096
CUSTOMER_LOCALES = frozenset({"ru"})
MAX_HISTORY_LINES = 10
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
    return locale_of(user.language_code)


def locale_of(language_code: str | None) -> str:
    """The catalog a customer with this Telegram language reads."""
    language = (language_code or "").replace("-", "_").split("_", 1)[0].lower()
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


def format_new_order(card: OrderCard, t: Translations) -> str:
    """The manager-chat card of an order (HTML, at most 4096 characters): the announcement
    of a new order, later redrawn with its current status and what staff did to it."""

    def amount(value: Money) -> str:
        return _e(_money(value.amount, value.currency))

    customer = card.customer
    head = [
        t.gettext("notify.new_order.title", number=_e(card.number)),
        "",
        t.gettext("notify.new_order.customer", name=_e(customer.name or "—")),
    ]
    if customer.username:
        head.append(t.gettext("notify.new_order.username", username=_e(customer.username)))
    head.append(t.gettext("notify.new_order.telegram_id", telegram_id=_e(customer.telegram_id)))
    head.append(
        t.gettext(
            "notify.new_order.status",
            status=_e(_label(t, "order.status", card.status)),
            payment_status=_e(_label(t, "payment.status", card.payment_status)),
        )
    )
    if card.tracking_number:
        head.append(t.gettext("notify.status.tracking", tracking_number=_e(card.tracking_number)))
    items = []
    for line in card.lines:
        title = f"{line.title} ({line.variant_title})" if line.variant_title else line.title
        items.append(
            t.gettext(
                "notify.new_order.line",
                title=_e(title),
                quantity=line.quantity,
                unit_price=amount(line.unit_price),
                line_total=amount(line.total),
            )
        )
    totals = [""]
    if card.discount.amount or card.delivery_cost.amount:
        totals.append(t.gettext("notify.new_order.subtotal", amount=amount(card.subtotal)))
    if card.discount.amount:
        totals.append(t.gettext("notify.new_order.discount", amount=amount(card.discount)))
    if card.delivery_cost.amount:
        totals.append(
            t.gettext("notify.new_order.delivery_cost", amount=amount(card.delivery_cost))
        )
    totals.append(t.gettext("notify.new_order.total", amount=amount(card.total)))
    delivery = _delivery_lines(t, card.delivery)
    history = _history_lines(t, card)

    def render(shown_items: int, shown_delivery: int) -> str:
        lines = [*head, "", t.gettext("notify.new_order.items"), *items[:shown_items]]
        if shown_items < len(items):
            lines.append(t.gettext("notify.new_order.more_items", count=len(items) - shown_items))
        lines += totals
        if shown_delivery:
            lines += ["", t.gettext("notify.new_order.delivery"), *delivery[:shown_delivery]]
        if history:
            lines += ["", t.gettext("staff.card.history"), *history]
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


def _history_lines(t: Translations, card: OrderCard) -> list[str]:
    """What happened to the order after placement: status, who (staff by name), when."""
    lines = []
    for event in card.history[-MAX_HISTORY_LINES:]:
        if event.actor == "staff" and event.by_name is not None:  # the customer is on the card
            who = _e(event.by_name) + (f" (@{_e(event.by_username)})" if event.by_username else "")
        else:
            who = t.gettext(f"staff.card.by.{event.actor}")
            if who == f"staff.card.by.{event.actor}":
                who = _e(event.actor)
        params = {
            "status": _e(_label(t, "order.status", event.to_status)),
            "who": who,
            "at": _e(event.at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")),
        }
        if event.note:
            lines.append(t.gettext("staff.card.event_with_note", note=_e(event.note), **params))
        else:
            lines.append(t.gettext("staff.card.event", **params))
    return lines


STAFF_TARGET_ORDER = (
    OrderStatus.CONFIRMED,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
    OrderStatus.CANCELLED,
)


def manager_buttons(card: OrderCard, t: Translations) -> list[list[InlineButton]]:
    """The buttons under a card: one per move staff may make from the current status
    (progress on the first row, Cancel alone below it, away from a slipping thumb)."""
    targets = [s for s in STAFF_TARGET_ORDER if s in card.staff_targets]

    def button(target: OrderStatus) -> InlineButton:
        data = StaffOrderAction(order_id=card.id, seen=card.status, target=target)
        return InlineButton(t.gettext(f"staff.button.{target.value}"), data.pack())

    rows = [[button(s) for s in targets if s is not OrderStatus.CANCELLED]]
    if OrderStatus.CANCELLED in targets:
        rows.append([button(OrderStatus.CANCELLED)])
    return [row for row in rows if row]


def cancel_confirmation_buttons(card: OrderCard, t: Translations) -> list[list[InlineButton]]:
    """The second step of Cancel: a mis-tap must not cancel an order."""
    sure = StaffOrderAction(
        order_id=card.id, seen=card.status, target=OrderStatus.CANCELLED, sure=True
    )
    return [
        [InlineButton(t.gettext("staff.button.cancel_sure", number=card.number), sure.pack())],
        [InlineButton(t.gettext("staff.button.keep"), StaffOrderShow(order_id=card.id).pack())],
    ]


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
    """Job ``notify_manager_new_order`` — payload ``{"order_id": int}``.

    The card shows the order as it is when the job runs, with the buttons staff may press
    now (a job that was delayed while the order changed shows the change)."""
    order_id = _payload_int(job, "order_id")
    if deps.manager_chat_id is None:
        log.warning(
            "notify.no_manager_chat",
            order_id=order_id,
            hint="set TGSHOP_MANAGER_CHAT_ID to get new orders in a chat",
        )
        return
    try:
        async with deps.db.read() as session:
            card = await load_order_card(session, order_id)
    except NotFound as exc:
        raise PermanentJobError(exc.message) from None
    t = deps.translator.get(deps.staff_locale)
    await _client(deps).send_message(
        deps.manager_chat_id,
        format_new_order(card, t),
        parse_mode="HTML",
        buttons=manager_buttons(card, t),
    )


async def notify_customer_order_status(deps: NotifyDeps, job: Job) -> None:
    """Job ``notify_customer_order_status`` — payload ``{"order_id": int, "status": str}``."""
    order_id = _payload_int(job, "order_id")
    status = _payload_str(job, "status")
    order, user = await _load(deps.db, order_id)
    text = format_status_change(order, status, deps.translator.get(customer_locale(user)))
    await _client(deps).send_message(user.telegram_id, text, parse_mode="HTML")


async def notify_manager_order_status(deps: NotifyDeps, job: Job) -> None:
    """Job ``notify_manager_order_status`` — payload ``{"order_id": int, "status": str}``:
    the manager chat hears of a change the customer made (e.g. cancelled an unpaid order),
    so nobody packs an order that is no longer wanted."""
    order_id = _payload_int(job, "order_id")
    status = _payload_str(job, "status")
    if deps.manager_chat_id is None:
        return
    order, user = await _load(deps.db, order_id)
    t = deps.translator.get(deps.staff_locale)
    name = " ".join(part for part in (user.first_name, user.last_name) if part) or "—"
    text = t.gettext(
        "notify.manager_status",
        number=_e(_order_number(order)),
        status=_e(_label(t, "order.status", status)),
        name=_e(name),
    )
    await _client(deps).send_message(deps.manager_chat_id, text, parse_mode="HTML")
