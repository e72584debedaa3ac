"""Outbox jobs about money: telling a customer what became of a payment that could not go
to its order, and sending a refund back through the gateway the money came from.

Refunds are safe to retry: the refund row moves ``approved → succeeded`` only after the
gateway answered, and a gateway that says "already refunded" (a retry after a crash between
its answer and our commit) counts as done.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update

from tgshop.db.models import Payment, Refund, User
from tgshop.domain.money import Money
from tgshop.domain.payments import Gateway
from tgshop.jobs.job import Job
from tgshop.jobs.notify import (
    NotifyDeps,
    TelegramNotConfigured,
    _client,
    _e,
    _payload_int,
    _payload_str,
    customer_locale,
)
from tgshop.services.ports import TelegramSendError


class RefundNotPossible(TelegramSendError):
    """This gateway cannot send money back from here (yet): staff must do it by hand. The
    job is dead-lettered with this message rather than retried."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


@dataclass(frozen=True)
class _PaymentFacts:
    id: int
    gateway: str
    amount: Money
    value: Money
    charge_id: str | None
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
            id=payment.id,
            gateway=payment.gateway,
            amount=Money(payment.amount, payment.currency),
            value=Money(payment.value_amount, payment.value_currency),
            charge_id=payment.provider_charge_id,
            telegram_id=user.telegram_id,
            locale=customer_locale(user),
        )


async def notify_late_payment(deps: NotifyDeps, job: Job) -> None:
    """Job ``notify_late_payment`` — payload ``{"payment_id", "outcome", "reason"}``."""
    payment = await _payment_facts(deps, _payload_int(job, "payment_id"))
    outcome = _payload_str(job, "outcome")
    t = deps.translator.get(payment.locale)
    code = str(job.payload.get("reason") or "other")
    reason_key = f"notify.late_payment.reason.{code}"
    reason = t.gettext(reason_key)
    if reason == reason_key:
        reason = t.gettext("notify.late_payment.reason.other")
    text = t.gettext(
        f"notify.late_payment.{outcome}",
        amount=_e(payment.amount),
        value=_e(payment.value),
        reason=_e(reason),
    )
    await _client(deps).send_message(payment.telegram_id, text, parse_mode="HTML")


async def refund_payment(deps: NotifyDeps, job: Job) -> None:
    """Job ``refund_payment`` — payload ``{"refund_id": int}``: send an approved refund
    back through the payment's gateway, then mark it succeeded and tell the customer."""
    refund_id = _payload_int(job, "refund_id")
    async with deps.db.read() as session:
        refund = await session.get(Refund, refund_id)
        if refund is None:
            raise TelegramSendError(f"refund {refund_id} does not exist", permanent=True)
        status, amount, currency = refund.status, refund.amount, refund.currency
        payment_id = refund.payment_id
    if status == "succeeded":
        return
    if status != "approved" or payment_id is None:
        raise RefundNotPossible(f"refund {refund_id} is {status}, not approved")
    payment = await _payment_facts(deps, payment_id)
    if payment.gateway != Gateway.STARS.value:
        raise RefundNotPossible(
            f"refunds through {payment.gateway} are not built yet: refund payment "
            f"{payment.id} by hand"
        )
    if deps.telegram is None:
        raise TelegramNotConfigured("TGSHOP_BOT_TOKEN is not set")
    if payment.charge_id is None or Money(amount, currency) != payment.amount:
        raise RefundNotPossible("Telegram Stars refunds return a whole payment only")
    await deps.telegram.refund_star_payment(payment.telegram_id, payment.charge_id)
    async with deps.db.transaction() as session:
        await session.execute(
            update(Refund)
            .where(Refund.id == refund_id, Refund.status == "approved")
            .values(status="succeeded", provider_refund_id=payment.charge_id)
        )
    t = deps.translator.get(payment.locale)
    text = t.gettext("notify.refund.done", amount=_e(Money(amount, currency)))
    await _client(deps).send_message(payment.telegram_id, text, parse_mode="HTML")
