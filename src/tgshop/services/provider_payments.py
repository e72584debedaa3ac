"""Payments at external providers (CryptoBot, YooKassa): what their notifications and APIs
say, taken in through the same exactly-once confirmation as Telegram's payments.

Rules:
- only a provider's verified word counts: a notification whose signature checks out, or
  the payment as re-read from the provider's API (the adapter decides which it needs);
- money received goes to :meth:`PaymentService.confirm`, which takes it in exactly once
  (the order paid; late money credited or refunded; the customer told);
- a payment the provider declined, or let expire, stops waiting: our pending payment
  becomes ``failed`` or ``cancelled`` with the provider's reason, once, and the customer
  hears that nothing was charged and the order can be paid again while it still waits;
- the worker re-reads payments still pending after ``TGSHOP_PAYMENTS_PENDING_CHECK_MINUTES``
  (the notification that never came), oldest first, at most ``RECHECK_BATCH`` a pass; one
  the provider still calls pending waits another interval before it is read again; a
  pending payment that never reached its provider (the call failed before any page was
  shown) is cancelled then;
- staff may re-check one payment at any time and see what the provider says.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy import ColumnElement, select, update

from tgshop.config import PaymentsSettings
from tgshop.db.engine import Database
from tgshop.db.models import Payment
from tgshop.domain.errors import NotFound
from tgshop.domain.payments import Gateway, PaymentState
from tgshop.services.gateway_modes import Providers, as_providers
from tgshop.services.outbox import enqueue
from tgshop.services.payments import Confirmation, PaymentService, ProviderReport
from tgshop.services.ports import (
    Clock,
    PaymentProvider,
    ProviderError,
    ProviderPayment,
    ProviderState,
    WebhookRejected,
)

log = structlog.get_logger("tgshop.payments.providers")

NOTIFY_PAYMENT_FAILED = "notify_payment_failed"
# A pass re-reads at most this many pending payments; the rest wait for the next pass.
RECHECK_BATCH = 200


@dataclass(frozen=True)
class Taken:
    """What became of a provider's report."""

    state: ProviderState
    confirmation: Confirmation | None = None  # money received: what confirm() did
    stopped: bool = False  # a pending payment stopped waiting now (failed or cancelled)


@dataclass(frozen=True)
class PaymentCheck:
    """A payment as we hold it and as its provider reports it (a staff re-check)."""

    payment_id: int
    gateway: str
    ours_before: str
    ours_now: str
    provider: ProviderPayment | None
    # What happened: ``received.<outcome>`` (money taken in; ``received.duplicate`` when
    # known before), ``stopped`` (declined or expired now), ``unchanged``; or why the
    # provider was not asked: ``no_provider`` (Telegram or we report these payments),
    # ``never_reached`` (no provider id).
    result: str


@dataclass(frozen=True)
class Recheck:
    checked: int
    taken_in: int  # money we had not heard of
    stopped: int  # declined, expired or never reached the provider
    errors: int  # the provider did not answer: tried again next pass


class ProviderPayments:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        payments: PaymentService,
        providers: Providers | Mapping[str, PaymentProvider],
        settings: PaymentsSettings,
    ) -> None:
        self._db = db
        self._clock = clock
        self._payments = payments
        self._providers = as_providers(providers, settings.mode)
        self._settings = settings

    async def webhook(
        self, gateway: str, body: bytes, headers: Mapping[str, str], client_ip: str | None
    ) -> Taken | None:
        """A provider's notification. Raises NotFound (gateway not set up),
        WebhookRejected (not believed) or ProviderError (the re-read failed: the provider
        should send it again).

        With test and live credentials both set up, the notification is read with each
        (test first): it is believed if one of them verifies it (CryptoBot's signature is
        keyed by the token; YooKassa's payment is re-read with the shop's own keys)."""
        adapters = self._providers.of_gateway(gateway)
        if not adapters:
            raise NotFound(f"payments through {gateway} are not set up")
        failures: list[Exception] = []
        for _, provider in adapters:
            try:
                reported = await provider.read_webhook(body, headers, client_ip)
            except (WebhookRejected, ProviderError) as exc:
                failures.append(exc)
                continue
            if reported is None:
                return None
            return await self.take(gateway, reported)
        # A provider that did not answer is worth another delivery; otherwise say why not.
        retry = next((f for f in failures if isinstance(f, ProviderError) and f.retryable), None)
        raise retry or failures[0]

    async def take(self, gateway: str, reported: ProviderPayment) -> Taken:
        """Act on what a provider verifiably says of one payment (see module)."""
        key = reported.key or await self._key_of(gateway, reported.provider_payment_id)
        if reported.state is ProviderState.SUCCEEDED:
            if reported.amount is None or reported.currency is None:
                raise ProviderError(
                    f"{gateway} reports payment {reported.provider_payment_id} paid "
                    "without an amount we can check"
                )
            confirmation = await self._payments.confirm(
                ProviderReport(
                    gateway=Gateway(gateway),
                    payload=key or "",
                    charge_id=reported.provider_payment_id,
                    provider_payment_id=reported.provider_payment_id,
                    amount=reported.amount,
                    currency=reported.currency,
                    raw=reported.raw,
                )
            )
            log.info(
                "payment.provider_report",
                gateway=gateway,
                provider_payment_id=reported.provider_payment_id,
                outcome=confirmation.outcome.value,
                payment_id=confirmation.payment_id,
            )
            return Taken(reported.state, confirmation)
        if reported.state is ProviderState.PENDING or key is None:
            return Taken(reported.state)
        target = (
            PaymentState.CANCELLED
            if reported.state is ProviderState.CANCELLED
            else PaymentState.FAILED
        )
        stopped = await self._stop(gateway, key, target, reported.reason or target.value)
        return Taken(reported.state, stopped=stopped)

    async def check(self, payment_id: int) -> PaymentCheck:
        """Staff: ask the provider about one payment now, act on the answer, and show both
        sides. NotFound for no such payment."""
        async with self._db.read() as session:
            payment = await session.get(Payment, payment_id)
            if payment is None:
                raise NotFound(f"no payment {payment_id}")
            gateway, before = payment.gateway, payment.status
            provider_id = payment.provider_payment_id
            provider = self._providers.get(gateway, payment.mode)
        if provider is None or provider_id is None:
            result = "no_provider" if provider is None else "never_reached"
            return PaymentCheck(payment_id, gateway, before, before, None, result)
        reported = await provider.fetch(provider_id)
        taken = await self.take(gateway, reported)
        async with self._db.read() as session:
            now_status = await session.scalar(
                select(Payment.status).where(Payment.id == payment_id)
            )
        if taken.confirmation is not None:
            result = f"received.{taken.confirmation.outcome.value}"
        elif taken.stopped:
            result = "stopped"
        else:
            result = "unchanged"
        return PaymentCheck(payment_id, gateway, before, str(now_status), reported, result)

    async def recheck_pending(self) -> Recheck:
        """One pass over payments pending longer than the configured minutes (see module)."""
        if not self._providers:
            return Recheck(0, 0, 0, 0)
        cutoff = self._clock.now() - timedelta(minutes=self._settings.pending_check_minutes)
        async with self._db.read() as session:
            rows = (
                await session.execute(
                    select(
                        Payment.gateway,
                        Payment.mode,
                        Payment.idempotency_key,
                        Payment.provider_payment_id,
                    )
                    .where(
                        Payment.status == PaymentState.PENDING.value,
                        Payment.gateway.in_(sorted(self._providers.gateways())),
                        Payment.updated_at <= cutoff,
                    )
                    .order_by(Payment.updated_at)
                    .limit(RECHECK_BATCH)
                )
            ).all()
        taken_in = stopped = errors = 0
        for gateway, mode, key, provider_id in rows:
            if provider_id is None:
                if await self._stop(gateway, key, PaymentState.CANCELLED, "not_started"):
                    stopped += 1
                continue
            provider = self._providers.get(gateway, mode)
            if provider is None:  # its mode's credentials were removed: nobody to ask
                errors += 1
                log.warning("payment.recheck_no_credentials", gateway=gateway, mode=mode)
                await self._touch(gateway, key)
                continue
            try:
                reported = await provider.fetch(provider_id)
                taken = await self.take(gateway, reported)
            except ProviderError as exc:
                errors += 1
                log.warning("payment.recheck_failed", gateway=gateway, error=str(exc))
                continue
            if taken.confirmation is not None and taken.confirmation.outcome.value != "duplicate":
                taken_in += 1
            stopped += taken.stopped
            if taken.state is ProviderState.PENDING:
                await self._touch(gateway, key)
        if rows:
            log.info(
                "payment.recheck",
                checked=len(rows),
                taken_in=taken_in,
                stopped=stopped,
                errors=errors,
            )
        return Recheck(len(rows), taken_in, stopped, errors)

    async def run_periodically(self) -> int:
        """The worker's periodic entry point: how many payments changed."""
        result = await self.recheck_pending()
        return result.taken_in + result.stopped

    async def _touch(self, gateway: str, key: str) -> None:
        """Still pending at the provider: to the back of the re-check queue, so a backlog
        larger than one pass rotates instead of the oldest being read over and over."""
        async with self._db.transaction() as session:
            await session.execute(
                update(Payment)
                .where(*_still_pending(gateway, key))
                .values(updated_at=self._clock.now())
                .execution_options(synchronize_session=False)
            )

    async def _key_of(self, gateway: str, provider_payment_id: str) -> str | None:
        async with self._db.read() as session:
            key: str | None = await session.scalar(
                select(Payment.idempotency_key).where(
                    Payment.gateway == gateway,
                    Payment.provider_payment_id == provider_payment_id,
                )
            )
        return key

    async def _stop(self, gateway: str, key: str, target: PaymentState, reason: str) -> bool:
        """A pending payment stops waiting, once; the customer is told (outbox)."""
        now = self._clock.now()
        async with self._db.transaction() as session:
            row = (
                await session.execute(
                    update(Payment)
                    .where(*_still_pending(gateway, key))
                    .values(status=target.value, outcome=reason[:500], updated_at=now)
                    .returning(Payment.id, Payment.order_id)
                    .execution_options(synchronize_session=False)
                )
            ).one_or_none()
            if row is None:
                return False
            payment_id, order_id = row
            if order_id is not None:
                await enqueue(
                    session,
                    NOTIFY_PAYMENT_FAILED,
                    {"payment_id": payment_id, "reason": reason[:200]},
                    now=now,
                    dedup_key=f"payment:{payment_id}:stopped",
                )
        log.info("payment.stopped", gateway=gateway, payment_id=payment_id, state=target.value)
        return True


def _still_pending(gateway: str, key: str) -> tuple[ColumnElement[bool], ...]:
    """Our payment with this key at this gateway, while it is still pending."""
    return (
        Payment.gateway == gateway,
        Payment.idempotency_key == key,
        Payment.status == PaymentState.PENDING.value,
    )
