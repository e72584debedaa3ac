"""Outbox jobs about money: telling a customer what became of a payment that could not go
to its order, and sending a refund back through the gateway the money came from.

Refunds are safe to retry: the refund row moves ``approved → succeeded`` only after the
gateway answered, and a gateway that says "already refunded" (a retry after a crash between
its answer and our commit) counts as done.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from tgshop.db.models import Order, Payment, User
from tgshop.domain.errors import NotFound
from tgshop.domain.money import Money
from tgshop.domain.orders import OrderStatus
from tgshop.i18n.translator import Translations
from tgshop.jobs.job import Job
from tgshop.jobs.notify import (
    NotifyDeps,
    _client,
    _e,
    _payload_int,
    _payload_str,
    customer_locale,
)
from tgshop.services.ledger import wallet_balance
from tgshop.services.ports import ProviderError, TelegramSendError
from tgshop.services.refunds import CannotRefund, RefundService


class RefundNotPossible(TelegramSendError):
    """This gateway cannot send money back from here (yet): staff must do it by hand. The
    job is dead-lettered with this message rather than retried."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


@dataclass(frozen=True)
class _PaymentFacts:
    amount: Money
    value: Money
    telegram_id: int
    locale: str


async def _payment_facts(deps: NotifyDeps, payment_id: int) -> _PaymentFacts:
    async with deps.db.read() as session:
        row = (
            await session.execute(
                select(Payment, User)
                .join(User, User.id == Payment.user_id)
                .where(Payment.id == payment_id)
            )
        ).one_or_none()
        if row is None:
            raise TelegramSendError(f"payment {payment_id} does not exist", permanent=True)
        payment, user = row
        return _PaymentFacts(
            amount=Money(payment.amount, payment.currency),
            value=Money(payment.value_amount, payment.value_currency),
            telegram_id=user.telegram_id,
            locale=customer_locale(user),
        )


def _reason(t: Translations, prefix: str, job: Job) -> str:
    """The job's ``reason`` code in the customer's words; ``<prefix>.other`` for a code
    the catalog does not know (a provider's new decline reason, say)."""
    key = f"{prefix}.{job.payload.get('reason') or 'other'}"
    text = t.gettext(key)
    return t.gettext(f"{prefix}.other") if text == key else text


async def notify_late_payment(deps: NotifyDeps, job: Job) -> None:
    """Job ``notify_late_payment`` — payload ``{"payment_id", "outcome", "reason"}``."""
    payment = await _payment_facts(deps, _payload_int(job, "payment_id"))
    outcome = _payload_str(job, "outcome")
    t = deps.translator.get(payment.locale)
    reason = _reason(t, "notify.late_payment.reason", job)
    text = t.gettext(
        f"notify.late_payment.{outcome}",
        amount=_e(payment.amount),
        value=_e(payment.value),
        reason=_e(reason),
    )
    await _client(deps).send_message(payment.telegram_id, text, parse_mode="HTML")


async def notify_topped_up(deps: NotifyDeps, job: Job) -> None:
    """Job ``notify_topped_up`` — payload ``{"payment_id": int}``: a top-up paid at
    CryptoBot or YooKassa came in; the customer hears the amount and their balance now."""
    payment = await _payment_facts(deps, _payload_int(job, "payment_id"))
    async with deps.db.read() as session:
        user_id = await session.scalar(
            select(Payment.user_id).where(Payment.id == _payload_int(job, "payment_id"))
        )
        assert user_id is not None  # _payment_facts found the payment
        balance = await wallet_balance(session, user_id, payment.value.currency)
    t = deps.translator.get(payment.locale)
    text = t.gettext(
        "notify.topup.done",
        amount=_e(payment.value),
        balance=_e(Money(balance, payment.value.currency)),
    )
    await _client(deps).send_message(payment.telegram_id, text, parse_mode="HTML")


async def notify_payment_failed(deps: NotifyDeps, job: Job) -> None:
    """Job ``notify_payment_failed`` — payload ``{"payment_id", "reason"}``: a payment at a
    provider was declined or expired; nothing was charged. Said only while the order still
    awaits payment (a customer who paid another way meanwhile needs no such message)."""
    payment_id = _payload_int(job, "payment_id")
    async with deps.db.read() as session:
        row = (
            await session.execute(
                select(Order.number, Order.status, Order.payment_status, User)
                .join(Payment, Payment.order_id == Order.id)
                .join(User, User.id == Payment.user_id)
                .where(Payment.id == payment_id)
            )
        ).one_or_none()
    if row is None:
        raise TelegramSendError(f"payment {payment_id} has no order", permanent=True)
    number, status, payment_status, user = row
    if status != OrderStatus.AWAITING_PAYMENT.value or payment_status != "unpaid":
        return
    t = deps.translator.get(customer_locale(user))
    reason = _reason(t, "notify.payment_failed.reason", job)
    text = t.gettext("notify.payment_failed", number=_e(number), reason=_e(reason))
    await _client(deps).send_message(user.telegram_id, text, parse_mode="HTML")


async def refund_payment(deps: NotifyDeps, refunds: RefundService, job: Job) -> None:
    """Job ``refund_payment`` — payload ``{"refund_id": int}``: send an approved refund
    (services/refunds.py says how, per gateway), then tell the customer. A refund that
    cannot be sent from here is dead-lettered with the reason, for staff."""
    refund_id = _payload_int(job, "refund_id")
    try:
        sent = await refunds.send(refund_id)
    except (NotFound, CannotRefund) as exc:
        raise RefundNotPossible(str(exc)) from exc
    except ProviderError as exc:
        if not exc.retryable:
            raise RefundNotPossible(str(exc)) from exc
        raise
    if sent.already:
        return
    t = deps.translator.get(sent.locale)
    key = "notify.refund.to_balance" if sent.to_balance else "notify.refund.done"
    text = t.gettext(key, amount=_e(sent.amount))
    if sent.balance_part is not None:
        text += "\n" + t.gettext("notify.refund.to_balance", amount=_e(sent.balance_part))
    await _client(deps).send_message(sent.telegram_id, text, parse_mode="HTML")
