"""Payments: asking for money, and taking it in exactly once (rules in domain/payments.py).

How "exactly once" holds when the same confirmation arrives twice, at the same time, on two
replicas, or after the order expired:
- a payment is found by its idempotency key (the invoice payload we generated) and its row
  is locked before anything is decided (FOR UPDATE on PostgreSQL; SQLite has one writer);
  then the order's row: always payment first, order second, so two units of work never
  wait on each other in opposite orders;
- a provider charge id is recorded once per gateway (unique constraint, checked first);
- the status moves with a conditional UPDATE from the status we read;
- the money moves through the ledger under the unique reference ``payment:<id>``.
Whatever cannot go to its order (expired, cancelled, already paid, a different amount, an
invoice we do not know) is money received: it goes to the customer's wallet or back
through its gateway (``TGSHOP_PAYMENTS_LATE_MONEY``), and the customer is told.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tgshop.config import PaymentsSettings, ShopSettings
from tgshop.db.engine import Database
from tgshop.db.models import AuditLog, Order, OrderItem, Payment, Refund, User, Variant
from tgshop.domain.errors import ConcurrentChange, InvalidRequest, NotFound
from tgshop.domain.ledger import REVENUE, LedgerKind, external, transfer, wallet
from tgshop.domain.money import Money
from tgshop.domain.orders import Actor, OrderStatus, PaymentStatus, plan_transition
from tgshop.domain.payments import (
    RECEIVES_MONEY,
    Gateway,
    LateMoneyPolicy,
    NotPayable,
    PaymentPurpose,
    PaymentState,
    order_stars_price,
    stars_for,
    stars_share,
)
from tgshop.services import ledger
from tgshop.services.gateway_modes import (
    GatewayModes,
    Providers,
    as_providers,
    available_modes,
)
from tgshop.services.orders import write_transition
from tgshop.services.outbox import enqueue
from tgshop.services.ports import CheckoutRequest, Clock, PaymentProvider

NOTIFY_LATE_PAYMENT = "notify_late_payment"
REFUND_PAYMENT = "refund_payment"
NOTIFY_TOPPED_UP = "notify_topped_up"

# Money Telegram delivers as a chat message, which the bot answers itself; money from the
# other gateways arrives by webhook, so the customer is told by a job.
_ANSWERED_IN_CHAT = frozenset({Gateway.STARS.value, Gateway.TELEGRAM.value})


class Outcome(StrEnum):
    PAID = "paid"  # the order is paid
    TOPPED_UP = "topped_up"
    DUPLICATE = "duplicate"  # this charge was taken in before: nothing happened now
    CREDITED = "credited"  # money that could not go to its order, now in the wallet
    REFUNDING = "refunding"  # ... going back through its gateway
    UNKNOWN = "unknown"  # no such invoice and no such customer: logged for staff


class Refusal(StrEnum):
    """Why a pre-checkout query is refused (the bot words it for the customer)."""

    UNKNOWN = "unknown"
    NOT_YOURS = "not_yours"
    PAID = "paid"
    CLOSED = "closed"  # expired or cancelled: the reserved stock is gone
    CHANGED = "changed"  # amount or currency differ from what we asked
    BALANCE = "balance"  # a mixed payment whose balance part the balance no longer covers


@dataclass(frozen=True)
class Invoice:
    """What the front end sends to Telegram for a payment we created."""

    payment_id: int
    payload: str
    order_number: str
    currency: str
    amount: int
    from_balance: Money | None = None  # a mixed payment: what the balance adds
    mode: str = "test"  # the gateway's mode it was made in (which card token to send)


@dataclass(frozen=True)
class Redirect:
    """Where the customer pays at an external provider."""

    payment_id: int
    gateway: str
    url: str
    amount: Money
    order_number: str
    from_balance: Money | None = None  # a mixed payment: what the balance adds


@dataclass(frozen=True)
class WalletView:
    balance: Money
    lines: list[ledger.LedgerLine]  # newest first


@dataclass(frozen=True)
class ProviderReport:
    """A provider says money arrived (successful_payment, a verified webhook...)."""

    gateway: Gateway
    payload: str  # our idempotency key, sent with the invoice
    charge_id: str  # the provider's id of this movement of money
    amount: int
    currency: str
    telegram_user_id: int | None = None
    provider_payment_id: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Confirmation:
    outcome: Outcome
    payment_id: int | None
    order_id: int | None
    reason: str | None = None  # why the money did not go to its order


# Statuses in which an unpaid order still takes its money: awaiting payment, or confirmed
# by staff to be paid on delivery (and then paid online after all).
_TAKES_MONEY = frozenset(
    s.value
    for s in (
        OrderStatus.AWAITING_PAYMENT,
        OrderStatus.CONFIRMED,
        OrderStatus.SHIPPED,
        OrderStatus.DELIVERED,
    )
)


@dataclass(frozen=True)
class _Statements:
    """The statements every confirmation runs, built once (building them per call cost
    more than running them)."""

    payment_by_key: Select[Any]
    order_by_id: Select[Any]
    settle: Any  # UPDATE ... RETURNING


@lru_cache(maxsize=1)
def _statements() -> _Statements:
    table = cast(Table, Payment.__table__)
    return _Statements(
        payment_by_key=select(Payment)
        .where(Payment.idempotency_key == bindparam("key"))
        .with_for_update(),
        order_by_id=select(Order).where(Order.id == bindparam("id")).with_for_update(),
        settle=table.update()
        .where(
            table.c.idempotency_key == bindparam("_key"),
            table.c.gateway == bindparam("_gateway"),
            table.c.status.in_(_SETTLEABLE),
        )
        .values(
            status=PaymentState.SUCCEEDED.value,
            provider_charge_id=bindparam("_charge"),
            provider_payment_id=bindparam("_provider_payment"),
            raw=bindparam("_raw", type_=table.c.raw.type),
            confirmed_at=bindparam("_now", type_=table.c.confirmed_at.type),
            updated_at=bindparam("_now", type_=table.c.updated_at.type),
        )
        .returning(*(table.c[name] for name in _Taken.__dataclass_fields__)),
    )


_SETTLEABLE = tuple(sorted(state.value for state in RECEIVES_MONEY))


@dataclass(frozen=True)
class _Taken:
    """What the money paths need of a payment that received money."""

    id: int
    order_id: int | None
    user_id: int
    purpose: str
    gateway: str
    amount: int
    currency: str
    value_amount: int
    value_currency: str
    wallet_amount: int

    @classmethod
    def of(cls, payment: Any) -> _Taken:
        """From a Payment or a row with those columns."""
        return cls(**{name: getattr(payment, name) for name in cls.__dataclass_fields__})


def _new_key() -> str:
    return "tgs_" + secrets.token_urlsafe(18)


class PaymentService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        shop: ShopSettings,
        settings: PaymentsSettings,
        providers: Providers | Mapping[str, PaymentProvider] | None = None,
        modes: GatewayModes | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._shop = shop
        self._settings = settings
        self._providers = as_providers(providers, settings.mode)
        self._modes = modes or GatewayModes(
            db, clock, settings.mode, available_modes(settings, self._providers)
        )
        self._sql = _statements()

    # ------------------------------------------------------------------ asking for money

    async def stars_invoice(
        self, order_id: int, user_id: int, *, use_balance: bool = False
    ) -> Invoice:
        """A Telegram Stars invoice for the customer's unpaid order. Asking again while the
        price is unchanged gives the same pending payment (and payload), so a double tap
        cannot create two debts. With ``use_balance`` the balance pays part (see
        :meth:`_balance_part`) and Stars the rest, their share rounded up."""
        if not self._settings.stars_enabled:
            raise NotPayable("switched_off", "payment in Telegram Stars is switched off")
        mode = await self._modes.mode(Gateway.STARS)
        async with self._db.transaction() as session:
            order = await self._payable_order(session, order_id, user_id)
            part = await self._balance_part(session, order, use_balance)
            lines = (
                await session.execute(
                    select(Variant.stars_price, OrderItem.quantity)
                    .select_from(OrderItem)
                    .outerjoin(Variant, Variant.id == OrderItem.variant_id)
                    .where(OrderItem.order_id == order.id)
                )
            ).all()
            stars = order_stars_price(
                [(price, quantity) for price, quantity in lines],
                order.total_amount,
                order.currency,
                self._settings.stars_rate,
            )
            if part:
                stars = stars_share(stars, order.total_amount - part, order.total_amount)
            payment = await self._open_payment(
                session, order, Gateway.STARS, mode, Money(stars, "XTR"), part
            )
            return Invoice(
                payment.id,
                payment.idempotency_key,
                order.number or "",
                "XTR",
                stars,
                Money(part, order.currency) if part else None,
                mode,
            )

    async def card_invoice(
        self, order_id: int, user_id: int, *, use_balance: bool = False
    ) -> Invoice:
        """A Telegram Payments invoice (cards, through the configured provider token) for
        the order total in the shop currency, or what the balance leaves of it; a double
        tap gives the same payment."""
        mode = await self._card_mode()
        async with self._db.transaction() as session:
            order = await self._payable_order(session, order_id, user_id)
            part = await self._balance_part(session, order, use_balance)
            rest = order.total_amount - part
            payment = await self._open_payment(
                session, order, Gateway.TELEGRAM, mode, Money(rest, order.currency), part
            )
            return Invoice(
                payment.id,
                payment.idempotency_key,
                order.number or "",
                order.currency,
                rest,
                Money(part, order.currency) if part else None,
                mode,
            )

    async def provider_checkout(
        self,
        order_id: int,
        user_id: int,
        gateway: Gateway,
        describe: Callable[[str], str],
        *,
        use_balance: bool = False,
    ) -> Redirect:
        """A payment page at an external provider (CryptoBot, YooKassa) for the customer's
        unpaid order, described on the provider's page by ``describe(order number)``.
        Asking again gives the same page while the price is unchanged.

        The provider is called outside any transaction (no row lock waits on the network);
        our pending payment is written first, so its key — which the provider echoes back —
        always leads to it, even if we crash before storing the provider's id. Raises
        NotPayable, NotFound or ProviderError (the provider is down or refused)."""
        mode, provider = await self._provider(gateway)
        now = self._clock.now()
        async with self._db.transaction() as session:
            order = await self._payable_order(session, order_id, user_id)
            if provider.currencies is not None and order.currency not in provider.currencies:
                raise NotPayable("currency", f"{gateway.value} cannot bill in {order.currency}")
            part = await self._balance_part(session, order, use_balance)
            payment = await self._open_payment(
                session,
                order,
                gateway,
                mode,
                Money(order.total_amount - part, order.currency),
                part,
            )
            redirect = Redirect(
                payment.id,
                gateway.value,
                str(payment.raw.get("pay_url") or ""),
                Money(payment.amount, payment.currency),
                order.number or "",
                Money(part, order.currency) if part else None,
            )
            if redirect.url:
                return redirect
            key = payment.idempotency_key
            expires_in = (
                int((order.expires_at - now).total_seconds())
                if order.expires_at is not None
                else 24 * 3600
            )
        return await self._at_provider(
            provider, redirect, key, describe(redirect.order_number), max(expires_in, 60)
        )

    async def _at_provider(
        self,
        provider: PaymentProvider,
        redirect: Redirect,
        key: str,
        description: str,
        expires_in: int,
    ) -> Redirect:
        """Ask the provider for its page for our pending payment (no transaction open), then
        store its id and page on the payment."""
        checkout = await provider.create(
            CheckoutRequest(
                key=key,
                amount=redirect.amount.amount,
                currency=redirect.amount.currency,
                description=description,
                expires_in=expires_in,
            )
        )
        async with self._db.transaction() as session:
            await session.execute(
                update(Payment)
                .where(Payment.id == redirect.payment_id, Payment.status == "pending")
                .values(
                    provider_payment_id=checkout.provider_payment_id,
                    raw={"pay_url": checkout.pay_url},
                    updated_at=self._clock.now(),
                )
                .execution_options(synchronize_session=False)
            )
        return replace(redirect, url=checkout.pay_url)

    async def topup_checkout(
        self, user_id: int, gateway: Gateway, amount: int, description: str
    ) -> Redirect:
        """A page at CryptoBot or YooKassa that tops up the customer's balance by ``amount``
        minor units of the shop currency; asking again for the same amount gives the same
        page. The money is taken in by the same exactly-once confirmation as any other, and
        the customer is told by a job (no chat message carries it). Raises NotPayable,
        InvalidRequest or ProviderError."""
        mode, provider = await self._provider(gateway)
        currency = self._shop.currency
        if provider.currencies is not None and currency not in provider.currencies:
            raise NotPayable("currency", f"{gateway.value} cannot bill in {currency}")
        self._check_topup(amount)
        async with self._db.transaction() as session:
            payment = await self._pending_topup(
                session, user_id, gateway, mode, Money(amount, currency), Money(amount, currency)
            )
            redirect = Redirect(
                payment.id,
                gateway.value,
                str(payment.raw.get("pay_url") or ""),
                Money(amount, currency),
                "",
            )
            if redirect.url:
                return redirect
            key = payment.idempotency_key
        return await self._at_provider(provider, redirect, key, description, 24 * 3600)

    def topup_amounts(self) -> list[Money]:
        """The top-up amounts front ends offer, in the shop currency."""
        return [Money.parse(str(a), self._shop.currency) for a in self._settings.topup_amounts]

    async def topup_invoice(self, user_id: int, gateway: Gateway, amount: int) -> Invoice:
        """A Telegram invoice (Stars or card) that tops up the customer's balance by
        ``amount`` minor units of the shop currency. Asking again for the same amount gives
        the same pending payment. Raises NotPayable or InvalidRequest."""
        currency = self._shop.currency
        self._check_topup(amount)
        if gateway is Gateway.STARS:
            if not self._settings.stars_enabled:
                raise NotPayable("switched_off", "payment in Telegram Stars is switched off")
            if self._settings.stars_rate is None:
                raise NotPayable("no_stars_price", "no Stars rate is configured for top-ups")
            charged = Money(stars_for(amount, currency, self._settings.stars_rate), "XTR")
            mode = await self._modes.mode(gateway)
        elif gateway is Gateway.TELEGRAM:
            mode = await self._card_mode()
            charged = Money(amount, currency)
        else:
            raise NotPayable("switched_off", f"top-ups through {gateway.value} are not offered")
        async with self._db.transaction() as session:
            payment = await self._pending_topup(
                session, user_id, gateway, mode, charged, Money(amount, currency)
            )
            return Invoice(
                payment.id,
                payment.idempotency_key,
                "",
                charged.currency,
                charged.amount,
                mode=mode,
            )

    async def _pending_topup(
        self,
        session: AsyncSession,
        user_id: int,
        gateway: Gateway,
        mode: str,
        charged: Money,
        value: Money,
    ) -> Payment:
        """The customer's pending top-up on these terms, or a new one; their row is locked
        first, so two taps cannot open two top-ups."""
        await session.execute(
            select(User.id).where(User.id == user_id).with_for_update(key_share=True)
        )
        return await self._pending_payment(
            session,
            order_id=None,
            user_id=user_id,
            purpose=PaymentPurpose.TOPUP,
            gateway=gateway,
            mode=mode,
            charged=charged,
            value=value,
        )

    def _check_topup(self, amount: int) -> None:
        limit = Money.parse(str(self._settings.topup_max), self._shop.currency)
        if not 0 < amount <= limit.amount:
            raise InvalidRequest(f"a top-up must be more than zero and at most {limit}")

    def methods(self) -> list[Gateway]:
        """The ways an order can be paid here now, in the order front ends offer them
        (the wallet only when enabled; front ends show it when the balance covers it)."""
        methods = []
        if self._settings.stars_enabled:
            methods.append(Gateway.STARS)
        if self._settings.card_tokens():
            methods.append(Gateway.TELEGRAM)
        for gateway in (Gateway.YOOKASSA, Gateway.CRYPTOBOT):
            if gateway.value in self._providers.gateways():
                methods.append(gateway)
        if self._settings.wallet_enabled:
            methods.append(Gateway.WALLET)
        return methods

    async def _open_payment(
        self,
        session: AsyncSession,
        order: Order,
        gateway: Gateway,
        mode: str,
        charged: Money,
        from_balance: int = 0,
    ) -> Payment:
        """The order's pending payment through ``gateway`` for exactly this amount (and
        balance part), or a new one (the order row is locked by the caller, so two taps
        cannot make two)."""
        return await self._pending_payment(
            session,
            order_id=order.id,
            user_id=order.user_id,
            purpose=PaymentPurpose.ORDER,
            gateway=gateway,
            mode=mode,
            charged=charged,
            value=Money(order.total_amount - from_balance, order.currency),
            from_balance=from_balance,
        )

    async def _provider(self, gateway: Gateway) -> tuple[str, PaymentProvider]:
        """The gateway's mode now and its adapter for that mode (NotPayable if none)."""
        mode = await self._modes.mode(gateway)
        provider = self._providers.get(gateway.value, mode)
        if provider is None:
            raise NotPayable("switched_off", f"payment through {gateway.value} is not set up")
        return mode, provider

    async def _card_mode(self) -> str:
        mode = await self._modes.mode(Gateway.TELEGRAM)
        if self.card_token(mode) is None:
            raise NotPayable("switched_off", "card payment through Telegram is not set up")
        return mode

    def card_token(self, mode: str) -> str | None:
        """The Telegram Payments provider token of ``mode`` (for sendInvoice)."""
        token = self._settings.card_tokens().get(mode)
        return token.get_secret_value() if token is not None else None

    async def _balance_part(self, session: AsyncSession, order: Order, use_balance: bool) -> int:
        """A mixed payment: the part of ``order`` the customer's balance pays — all of it
        but what a gateway must bring. Nothing is debited now: the balance part is taken
        when the gateway's money arrives, if the balance still covers it (otherwise the
        gateway's money goes to the balance instead). 0 without ``use_balance``. Raises
        NotPayable when the balance is off, empty, or covers the whole order (pay from it
        then)."""
        if not use_balance:
            return 0
        if not self._settings.wallet_enabled:
            raise NotPayable("switched_off", "paying from the balance is switched off")
        balance = await ledger.wallet_balance(session, order.user_id, order.currency)
        if balance <= 0:
            raise NotPayable("no_balance", "there is nothing on the balance to use")
        if balance >= order.total_amount:
            raise NotPayable("balance_covers", "the balance covers the whole order: pay from it")
        return balance

    async def _pending_payment(
        self,
        session: AsyncSession,
        *,
        order_id: int | None,
        user_id: int,
        purpose: PaymentPurpose,
        gateway: Gateway,
        mode: str,
        charged: Money,
        value: Money,
        from_balance: int = 0,
    ) -> Payment:
        """The pending payment on exactly these terms, or a new one. The caller holds the
        lock that serializes two taps (the order's row, or the customer's for a top-up)."""
        payment: Payment | None = await session.scalar(
            select(Payment)
            .where(
                Payment.order_id.is_(None) if order_id is None else Payment.order_id == order_id,
                Payment.user_id == user_id,
                Payment.purpose == purpose.value,
                Payment.gateway == gateway.value,
                Payment.mode == mode,
                Payment.status == PaymentState.PENDING.value,
                Payment.amount == charged.amount,
                Payment.currency == charged.currency,
                Payment.value_amount == value.amount,
                Payment.wallet_amount == from_balance,
            )
            .order_by(Payment.id.desc())
            .limit(1)
        )
        if payment is not None:
            return payment
        now = self._clock.now()
        payment = Payment(
            order_id=order_id,
            user_id=user_id,
            purpose=purpose.value,
            gateway=gateway.value,
            mode=mode,
            amount=charged.amount,
            currency=charged.currency,
            value_amount=value.amount,
            value_currency=value.currency,
            wallet_amount=from_balance,
            status=PaymentState.PENDING.value,
            idempotency_key=_new_key(),
            raw={},
            created_at=now,
            updated_at=now,
        )
        session.add(payment)
        await session.flush()
        return payment

    async def _payable_order(self, session: AsyncSession, order_id: int, user_id: int) -> Order:
        """The customer's order, locked, if it can still be paid."""
        order = await self._lock_order(session, order_id)
        if order.user_id != user_id:
            raise NotFound("no such order")
        if order.payment_status != PaymentStatus.UNPAID.value:
            raise NotPayable("paid", "this order is already paid")
        if order.status != OrderStatus.AWAITING_PAYMENT.value or (
            order.expires_at is not None and order.expires_at <= self._clock.now()
        ):
            raise NotPayable("closed", f"this order is {order.status} and cannot be paid")
        return order

    async def pay_from_wallet(self, order_id: int, user_id: int) -> Confirmation:
        """Pay an unpaid order from the customer's balance, all or nothing (InsufficientFunds
        when the balance is short; nothing is then written)."""
        if not self._settings.wallet_enabled:
            raise NotPayable("switched_off", "paying from the balance is switched off")
        now = self._clock.now()
        async with self._db.transaction() as session:
            order = await self._payable_order(session, order_id, user_id)
            payment = Payment(
                order_id=order.id,
                user_id=user_id,
                purpose=PaymentPurpose.ORDER.value,
                gateway=Gateway.WALLET.value,
                mode="live",
                amount=order.total_amount,
                currency=order.currency,
                value_amount=order.total_amount,
                value_currency=order.currency,
                status=PaymentState.SUCCEEDED.value,
                idempotency_key=f"wallet:{order.id}",
                raw={},
                confirmed_at=now,
                created_at=now,
                updated_at=now,
            )
            session.add(payment)
            await session.flush()
            await ledger.post(
                session,
                kind=LedgerKind.PURCHASE,
                reference=f"payment:{payment.id}",
                postings=transfer(wallet(user_id), REVENUE, order.total_amount, order.currency),
                now=now,
                note=order.number,
            )
            order_id, payment_id = order.id, payment.id
            await self._mark_paid(session, order_id, Gateway.WALLET.value, now)
            session.expire(order)
            return Confirmation(Outcome.PAID, payment_id, order_id)

    async def wallet(self, user_id: int, *, limit: int = 10) -> WalletView:
        """The customer's balance in the shop currency and its latest movements."""
        async with self._db.read() as session:
            amount = await ledger.wallet_balance(session, user_id, self._shop.currency)
            lines = await ledger.wallet_history(session, user_id, limit=limit)
        return WalletView(Money(amount, self._shop.currency), lines)

    async def balance(self, user_id: int) -> Money:
        """The customer's wallet balance in the shop currency."""
        async with self._db.read() as session:
            amount = await ledger.wallet_balance(session, user_id, self._shop.currency)
        return Money(amount, self._shop.currency)

    # ------------------------------------------------------------------ taking money in

    async def pre_checkout(
        self, payload: str, telegram_user_id: int, currency: str, amount: int
    ) -> Refusal | None:
        """Telegram asks whether to take the money (answer within seconds): None to go on,
        or why not. The order must still await payment within its time, the payment must
        be pending and belong to this person, and amount and currency must be ours."""
        async with self._db.read() as session:
            row = (
                await session.execute(
                    select(Payment, User.telegram_id)
                    .join(User, User.id == Payment.user_id)
                    .where(Payment.idempotency_key == payload)
                )
            ).one_or_none()
            if row is None:
                return Refusal.UNKNOWN
            payment, owner = row
            if owner != telegram_user_id:
                return Refusal.NOT_YOURS
            if payment.status == PaymentState.SUCCEEDED.value:
                return Refusal.PAID
            if (payment.amount, payment.currency) != (amount, currency):
                return Refusal.CHANGED
            if payment.order_id is None:
                return None  # a top-up
            order = await session.get(Order, payment.order_id)
            if order is None:
                return Refusal.UNKNOWN
            if order.payment_status != PaymentStatus.UNPAID.value:
                return Refusal.PAID
            if order.status != OrderStatus.AWAITING_PAYMENT.value or (
                order.expires_at is not None and order.expires_at <= self._clock.now()
            ):
                return Refusal.CLOSED
            if payment.wallet_amount:
                balance = await ledger.wallet_balance(session, payment.user_id, order.currency)
                if balance < payment.wallet_amount:
                    return Refusal.BALANCE
        return None

    async def confirm(self, report: ProviderReport) -> Confirmation:
        """Take in money a provider reports, exactly once (see module)."""
        if not report.charge_id or report.amount <= 0:
            raise InvalidRequest("a payment report needs a charge id and a positive amount")
        now = self._clock.now()
        async with self._db.transaction() as session:
            connection = await session.connection()
            # The usual case in one round trip: a payment not yet succeeded becomes succeeded
            # (the row lock it takes makes a concurrent duplicate wait, then find nothing).
            # A charge id can only sit on another payment of the same invoice, and those
            # exist only once this one succeeded: here it needs no lookup.
            settled = (
                await connection.execute(
                    self._sql.settle,
                    {
                        "_key": report.payload,
                        "_gateway": report.gateway.value,
                        "_charge": report.charge_id,
                        "_provider_payment": report.provider_payment_id,
                        "_raw": report.raw,
                        "_now": now,
                    },
                )
            ).one_or_none()
            if settled is None:
                return await self._not_settled(session, report, now)
            return await self._take(session, _Taken.of(settled), report, now)

    async def _take(
        self, session: AsyncSession, payment: _Taken, report: ProviderReport, now: Any
    ) -> Confirmation:
        """Money received for ``payment``, just marked succeeded: where it goes."""
        asked = (payment.amount, payment.currency)
        if (report.amount, report.currency) != asked:
            # Only on a provider fault; what was received is what goes back.
            await session.execute(
                update(Payment)
                .where(Payment.id == payment.id)
                .values(amount=report.amount, currency=report.currency)
                .execution_options(synchronize_session=False)
            )
            return await self._late(
                session,
                replace(payment, amount=report.amount, currency=report.currency),
                f"received {report.amount} {report.currency}, asked {asked[0]} {asked[1]}",
                now,
                policy=LateMoneyPolicy.REFUND,
            )
        if payment.purpose == PaymentPurpose.TOPUP.value or payment.order_id is None:
            await self._post(session, payment, LedgerKind.TOPUP, wallet(payment.user_id), now)
            if payment.gateway not in _ANSWERED_IN_CHAT:
                await enqueue(
                    session,
                    NOTIFY_TOPPED_UP,
                    {"payment_id": payment.id},
                    now=now,
                    dedup_key=f"payment:{payment.id}:topped_up",
                )
            return Confirmation(Outcome.TOPPED_UP, payment.id, None)
        order_id = payment.order_id
        if payment.wallet_amount:
            return await self._take_mixed(session, payment, order_id, now)
        try:  # the usual case, without reading the order first
            await self._mark_paid(session, order_id, payment.gateway, now)
        except ConcurrentChange:
            pass  # not awaiting payment: see below why, under its lock
        else:
            await self._post(session, payment, LedgerKind.SALE, REVENUE, now)
            return Confirmation(Outcome.PAID, payment.id, order_id)
        order = await self._lock_order(session, order_id)
        if order.payment_status == PaymentStatus.UNPAID.value and order.status in _TAKES_MONEY:
            # Confirmed by staff to be paid on delivery, and paid online after all.
            await self._post(session, payment, LedgerKind.SALE, REVENUE, now)
            await self._set_paid(session, order_id)
            return Confirmation(Outcome.PAID, payment.id, order_id)
        if order.payment_status != PaymentStatus.UNPAID.value:
            reason, code = "the order was already paid", "paid"
        else:
            reason, code = f"the order is {order.status}", order.status
        return await self._late(session, payment, reason, now, code=code)

    async def _take_mixed(
        self, session: AsyncSession, payment: _Taken, order_id: int, now: Any
    ) -> Confirmation:
        """The gateway's part of a mixed payment arrived: if the order still takes money
        and the balance still covers its part, debit the balance part and pay the order;
        otherwise the gateway's money is late money (the balance is never debited then)."""
        order = await self._lock_order(session, order_id)
        if order.payment_status != PaymentStatus.UNPAID.value:
            return await self._late(
                session, payment, "the order was already paid", now, code="paid"
            )
        if order.status not in _TAKES_MONEY:
            reason = f"the order is {order.status}"
            return await self._late(session, payment, reason, now, code=order.status)
        balance = await ledger.wallet_balance(
            session, payment.user_id, payment.value_currency, lock=True
        )
        if balance < payment.wallet_amount:
            reason = "the balance no longer covered its part"
            return await self._late(session, payment, reason, now, code="balance")
        await ledger.post(
            session,
            kind=LedgerKind.PURCHASE,
            reference=f"payment:{payment.id}:balance",
            postings=transfer(
                wallet(payment.user_id), REVENUE, payment.wallet_amount, payment.value_currency
            ),
            now=now,
            note=order.number,
        )
        if order.status == OrderStatus.AWAITING_PAYMENT.value:
            await self._mark_paid(session, order_id, payment.gateway, now)
        else:
            await self._set_paid(session, order_id)
        await self._post(session, payment, LedgerKind.SALE, REVENUE, now)
        return Confirmation(Outcome.PAID, payment.id, order_id)

    async def _not_settled(
        self, session: AsyncSession, report: ProviderReport, now: Any
    ) -> Confirmation:
        """The report matched no payment waiting for money: a duplicate, a second charge
        for a paid invoice, or an invoice we do not know."""
        payment: Payment | None = await session.scalar(
            self._sql.payment_by_key,
            {"key": report.payload},
            execution_options={"populate_existing": True},
        )
        if payment is None or payment.gateway != report.gateway.value:
            return await self._unknown_invoice(session, report)
        if payment.provider_charge_id == report.charge_id:
            return Confirmation(Outcome.DUPLICATE, payment.id, payment.order_id)
        known = await self._charge_known(session, report)
        if known is not None:  # a second charge, seen before as an extra payment
            return Confirmation(Outcome.DUPLICATE, known, payment.order_id)
        # The same invoice paid a second time: a new payment for the extra money.
        digest = hashlib.sha256(report.charge_id.encode()).hexdigest()[:16]
        extra = self._received(
            report,
            now,
            order_id=payment.order_id,
            user_id=payment.user_id,
            purpose=payment.purpose,
            mode=payment.mode,
            value_amount=payment.value_amount,
            value_currency=payment.value_currency,
            idempotency_key=f"{payment.idempotency_key[:40]}+{digest}",
        )
        session.add(extra)
        await session.flush()
        return await self._late(
            session, _Taken.of(extra), "the invoice was paid twice", now, code="paid"
        )

    # ------------------------------------------------------------------ staff

    async def mark_paid_by_staff(
        self, order_number: str, staff_user_id: int, note: str
    ) -> Confirmation:
        """Staff record money received outside every gateway (cash, a bank transfer): a
        ``manual`` payment for the order total, the order paid (and confirmed, if it was
        awaiting payment), revenue posted, and an audit row naming who and why — in one
        transaction. Only an unpaid order that still takes money; a note is required.
        Raises NotFound, NotPayable or InvalidRequest."""
        note = " ".join(note.split())
        if not 3 <= len(note) <= 500:
            raise InvalidRequest("say in 3-500 characters how the money was received")
        now = self._clock.now()
        async with self._db.transaction() as session:
            order_id = await session.scalar(
                select(Order.id).where(Order.number == order_number.strip().upper())
            )
            if order_id is None:
                raise NotFound(f"no order {order_number}")
            order = await self._lock_order(session, order_id)
            if order.payment_status != PaymentStatus.UNPAID.value:
                raise NotPayable("paid", f"order {order.number} is already paid")
            if order.status not in _TAKES_MONEY:
                raise NotPayable("closed", f"order {order.number} is {order.status}")
            payment = Payment(
                order_id=order.id,
                user_id=order.user_id,
                purpose=PaymentPurpose.ORDER.value,
                gateway=Gateway.MANUAL.value,
                mode="live",  # money in hand is real money
                amount=order.total_amount,
                currency=order.currency,
                value_amount=order.total_amount,
                value_currency=order.currency,
                status=PaymentState.SUCCEEDED.value,
                idempotency_key=_new_key(),
                raw={"note": note, "staff_user_id": staff_user_id},
                confirmed_at=now,
                created_at=now,
                updated_at=now,
            )
            session.add(payment)
            await session.flush()
            taken = _Taken.of(payment)
            if order.status == OrderStatus.AWAITING_PAYMENT.value:
                await self._mark_paid(session, order.id, Gateway.MANUAL.value, now)
            else:
                await self._set_paid(session, order.id)
            await self._post(session, taken, LedgerKind.SALE, REVENUE, now)
            session.add(
                AuditLog(
                    actor_user_id=staff_user_id,
                    action="payment.marked_paid",
                    entity="order",
                    entity_id=str(order.id),
                    data={"payment_id": payment.id, "note": note},
                    created_at=now,
                )
            )
            return Confirmation(Outcome.PAID, payment.id, order.id)

    # ------------------------------------------------------------------ internals

    async def _lock_order(self, session: AsyncSession, order_id: int) -> Order:
        order: Order | None = await session.scalar(
            self._sql.order_by_id,
            {"id": order_id},
            execution_options={"populate_existing": True},
        )
        if order is None:
            raise NotFound("no such order")
        return order

    @staticmethod
    async def _set_paid(session: AsyncSession, order_id: int) -> None:
        await session.execute(
            update(Order)
            .where(Order.id == order_id)
            .values(payment_status=PaymentStatus.PAID.value)
            .execution_options(synchronize_session=False)
        )

    async def _mark_paid(
        self, session: AsyncSession, order_id: int, gateway: str, now: Any
    ) -> None:
        """Paid and confirmed in one conditional update — ConcurrentChange unless the order
        is awaiting payment (an order awaiting payment is never paid: paying confirms it).
        It leaves ``awaiting_payment`` and its expiry; the customer and the manager hear of
        it through the outbox."""
        transition = plan_transition(
            OrderStatus.AWAITING_PAYMENT, OrderStatus.CONFIRMED, Actor.SYSTEM
        )
        await write_transition(
            session,
            order_id,
            transition,
            None,
            f"paid through {gateway}",
            now,
            payment_status=PaymentStatus.PAID,
            tell_manager=True,
        )

    @staticmethod
    async def _post(
        session: AsyncSession, payment: _Taken, kind: LedgerKind, to: str, now: Any
    ) -> None:
        await ledger.post(
            session,
            kind=kind,
            reference=f"payment:{payment.id}",
            postings=transfer(
                external(payment.gateway), to, payment.value_amount, payment.value_currency
            ),
            now=now,
        )

    @staticmethod
    def _received(report: ProviderReport, now: Any, **fields: Any) -> Payment:
        """A payment row for money ``report`` says arrived outside a pending payment (a
        second charge, an unknown invoice); ``fields`` give whose it is and what it is for."""
        return Payment(
            gateway=report.gateway.value,
            amount=report.amount,
            currency=report.currency,
            status=PaymentState.SUCCEEDED.value,
            provider_charge_id=report.charge_id,
            provider_payment_id=report.provider_payment_id,
            raw=report.raw,
            confirmed_at=now,
            created_at=now,
            updated_at=now,
            **fields,
        )

    @staticmethod
    async def _charge_known(session: AsyncSession, report: ProviderReport) -> int | None:
        """The payment that already recorded this charge, if any."""
        known: int | None = await session.scalar(
            select(Payment.id).where(
                Payment.gateway == report.gateway.value,
                Payment.provider_charge_id == report.charge_id,
            )
        )
        return known

    async def _late(
        self,
        session: AsyncSession,
        payment: _Taken,
        reason: str,
        now: Any,
        *,
        code: str = "other",
        policy: LateMoneyPolicy | None = None,
    ) -> Confirmation:
        """Money that cannot go to its order: to the wallet or back (see module)."""
        policy = policy or LateMoneyPolicy(self._settings.late_money)
        if policy is LateMoneyPolicy.CREDIT:
            outcome = Outcome.CREDITED
            await self._post(
                session, payment, LedgerKind.LATE_PAYMENT, wallet(payment.user_id), now
            )
        else:
            outcome = Outcome.REFUNDING
            refund = Refund(
                order_id=payment.order_id,
                payment_id=payment.id,
                amount=payment.amount,
                currency=payment.currency,
                value_amount=payment.value_amount,
                status="approved",
                reason=reason,
                note="automatic: money the order could not take",
                decided_at=now,
                created_at=now,
                updated_at=now,
            )
            session.add(refund)
            await session.flush()
            await enqueue(
                session,
                REFUND_PAYMENT,
                {"refund_id": refund.id},
                now=now,
                dedup_key=f"refund:{refund.id}",
            )
        await session.execute(
            update(Payment)
            .where(Payment.id == payment.id)
            .values(outcome=f"{reason}; {outcome.value}", updated_at=now)
            .execution_options(synchronize_session=False)
        )
        await enqueue(
            session,
            NOTIFY_LATE_PAYMENT,
            {"payment_id": payment.id, "outcome": outcome.value, "reason": code},
            now=now,
            dedup_key=f"payment:{payment.id}:late",
        )
        return Confirmation(outcome, payment.id, payment.order_id, reason)

    async def _unknown_invoice(self, session: AsyncSession, report: ProviderReport) -> Confirmation:
        """Money for an invoice we never made (or for another gateway's): record it for the
        customer it came from and send it back; without a known customer, nothing can be
        recorded here and the caller logs it for staff."""
        now = self._clock.now()
        known = await self._charge_known(session, report)
        if known is not None:
            return Confirmation(Outcome.DUPLICATE, known, None)
        user_id = None
        if report.telegram_user_id is not None:
            user_id = await session.scalar(
                select(User.id).where(User.telegram_id == report.telegram_user_id)
            )
        if user_id is None:
            return Confirmation(Outcome.UNKNOWN, None, None, "no such invoice or customer")
        payment = self._received(
            report,
            now,
            order_id=None,
            user_id=user_id,
            purpose=PaymentPurpose.ORDER.value,
            mode=await self._modes.mode(report.gateway),
            value_amount=report.amount,
            value_currency=report.currency,
            idempotency_key=_new_key(),
        )
        session.add(payment)
        await session.flush()
        return await self._late(
            session, _Taken.of(payment), "no such invoice", now, policy=LateMoneyPolicy.REFUND
        )
