"""Sending an approved refund back to the customer, through the way the money came.

Rules:
- only an ``approved`` refund is sent; a ``succeeded`` one is done and sending it again
  does nothing, so the job that sends it may run any number of times;
- Telegram Stars go back through refundStarPayment (a whole payment only); YooKassa
  through its refunds API, with ``refund:<id>`` as the idempotency key, in part or in full;
- where the money cannot go back the way it came (CryptoBot, cards through Telegram
  Payments, which have no refund API, the wallet itself, a manual payment), it goes to the
  customer's balance: the ledger moves its worth in the shop currency from revenue (the
  payment had paid an order) or from the gateway's account (it never went to an order),
  under the unique reference ``refund:<id>``, so it is credited once;
- a provider that is still processing the refund leaves it ``processing``: the job asks
  again later with the same key and finishes it when the provider says done.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from tgshop.db.engine import Database
from tgshop.db.models import Payment, Refund, User
from tgshop.domain.errors import InvalidRequest, NotFound
from tgshop.domain.ledger import REVENUE, LedgerKind, external, transfer, wallet
from tgshop.domain.money import Money
from tgshop.domain.payments import Gateway, PaymentState
from tgshop.services import ledger
from tgshop.services.ports import Clock, PaymentProvider, ProviderError, TelegramClient

# Where money goes back through the gateway it came from; every other gateway refunds to
# the customer's balance.
_BACK_THROUGH_GATEWAY = frozenset({Gateway.STARS.value, Gateway.YOOKASSA.value})


class RefundStillProcessing(ProviderError):
    """The provider accepted the refund and has not finished it: ask again later."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class CannotRefund(InvalidRequest):
    """This refund cannot be sent (not approved, a partial Stars refund, no telegram bot):
    staff must look at it."""

    code = "cannot_refund"


@dataclass(frozen=True)
class SentRefund:
    refund_id: int
    amount: Money  # what the customer gets back
    to_balance: bool  # credited to the wallet rather than sent back through the gateway
    telegram_id: int
    locale: str | None
    already: bool = False  # it had been sent before: nothing happened now


class RefundService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        telegram: TelegramClient | None,
        providers: Mapping[str, PaymentProvider],
    ) -> None:
        self._db = db
        self._clock = clock
        self._telegram = telegram
        self._providers = providers

    async def send(self, refund_id: int) -> SentRefund:
        """Send one approved refund (see module). Raises NotFound, CannotRefund,
        RefundStillProcessing, ProviderError or TelegramSendError."""
        async with self._db.read() as session:
            refund = await session.get(Refund, refund_id)
            if refund is None:
                raise NotFound(f"refund {refund_id} does not exist")
            payment = await session.get(Payment, refund.payment_id) if refund.payment_id else None
            if payment is None:
                raise CannotRefund(f"refund {refund_id} names no payment")
            user = await session.get(User, payment.user_id)
            assert user is not None  # a foreign key
            telegram_id, locale = user.telegram_id, user.language_code
            user_id = user.id
            status, amount = refund.status, Money(refund.amount, refund.currency)
            gateway, charge_id = payment.gateway, payment.provider_charge_id
            provider_id, provider_refund_id = payment.provider_payment_id, refund.provider_refund_id
            paid_order = payment.outcome is None and payment.order_id is not None
            paid = Money(payment.amount, payment.currency)
            value = Money(payment.value_amount, payment.value_currency)
            payment_id, payment_status = payment.id, payment.status
        to_balance = gateway not in _BACK_THROUGH_GATEWAY
        shown = _share(value, amount, paid) if to_balance else amount
        sent = SentRefund(refund_id, shown, to_balance, telegram_id, locale)
        if status == "succeeded":
            return SentRefund(refund_id, shown, to_balance, telegram_id, locale, already=True)
        if status not in ("approved", "processing"):
            raise CannotRefund(f"refund {refund_id} is {status}, not approved")
        if payment_status != PaymentState.SUCCEEDED.value:
            raise CannotRefund(f"payment {payment_id} received no money to refund")
        if amount.currency != paid.currency or not 0 < amount.amount <= paid.amount:
            raise CannotRefund(f"refund {refund_id} asks {amount}, the payment was {paid}")
        now = self._clock.now()
        if gateway == Gateway.STARS.value:
            if self._telegram is None:
                raise CannotRefund("TGSHOP_BOT_TOKEN is not set: Stars cannot be refunded")
            if charge_id is None or amount != paid:
                raise CannotRefund("Telegram Stars refunds return a whole payment only")
            await self._telegram.refund_star_payment(telegram_id, charge_id)
            provider_refund_id = charge_id
        elif gateway == Gateway.YOOKASSA.value:
            provider = self._providers.get(gateway)
            if provider is None or provider_id is None:
                raise CannotRefund("YooKassa is not set up here any more: refund it by hand")
            done = await provider.refund(
                provider_id, amount.amount, amount.currency, f"refund:{refund_id}"
            )
            provider_refund_id = done.provider_refund_id
            if not done.done:
                await self._set(refund_id, "processing", provider_refund_id)
                raise RefundStillProcessing(f"YooKassa is processing refund {provider_refund_id}")
        else:
            async with self._db.transaction() as session:
                await ledger.post(
                    session,
                    kind=LedgerKind.REFUND,
                    reference=f"refund:{refund_id}",
                    postings=transfer(
                        REVENUE if paid_order else external(gateway),
                        wallet(user_id),
                        shown.amount,
                        shown.currency,
                    ),
                    now=now,
                )
                await self._set(refund_id, "succeeded", None, session=session)
            return sent
        await self._set(refund_id, "succeeded", provider_refund_id)
        return sent

    async def _set(
        self,
        refund_id: int,
        status: str,
        provider_refund_id: str | None,
        *,
        session: AsyncSession | None = None,
    ) -> None:
        values: dict[str, object] = {"status": status, "updated_at": self._clock.now()}
        if provider_refund_id is not None:
            values["provider_refund_id"] = provider_refund_id
        statement = (
            update(Refund)
            .where(Refund.id == refund_id, Refund.status.in_(("approved", "processing")))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        if session is not None:
            await session.execute(statement)
            return
        async with self._db.transaction() as own:
            await own.execute(statement)


def _share(value: Money, part: Money, whole: Money) -> Money:
    """What ``part`` of a payment of ``whole`` is worth, given the whole is worth ``value``
    (rounded half up: a customer is never shorted by rounding down)."""
    if part == whole:
        return value
    return Money(
        (value.amount * part.amount * 2 + whole.amount) // (whole.amount * 2), value.currency
    )
