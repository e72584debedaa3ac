"""Ports the use cases talk through; adapters live in db/, payments/, jobs/ and tests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


@dataclass(frozen=True)
class InlineButton:
    """A button under a message that sends ``callback_data`` (at most 64 bytes) to the bot."""

    text: str
    callback_data: str

    def __post_init__(self) -> None:
        if not self.text:
            raise ValueError("a button needs a label")
        if not 1 <= len(self.callback_data.encode()) <= 64:
            raise ValueError(f"callback data must be 1-64 bytes: {self.callback_data!r}")


# Rows of buttons, top to bottom, left to right (an inline keyboard without aiogram types).
InlineButtons = Sequence[Sequence[InlineButton]]


@dataclass(frozen=True)
class StarTransaction:
    """One incoming Telegram Stars payment, as getStarTransactions lists it."""

    id: str  # the telegram_payment_charge_id of the payment
    amount: int
    user_id: int | None
    invoice_payload: str | None


@dataclass(frozen=True)
class StarTransactionsPage:
    count: int  # how many transactions the page held, incoming or not
    incoming: list[StarTransaction]


class TelegramClient(Protocol):
    """What the core needs from Telegram. Implemented over aiogram's Bot; faked in tests."""

    async def send_message(
        self,
        chat_id: int,
        text: str,
        *,
        parse_mode: str | None = "HTML",
        buttons: InlineButtons | None = None,
    ) -> int:
        """Send a message, with inline ``buttons`` under it when given; return its message
        id. Raises TelegramSendError on failure."""
        ...

    async def star_transactions(self, offset: int, limit: int) -> StarTransactionsPage:
        """A page of the bot's Stars transactions, oldest first (getStarTransactions).
        Raises TelegramSendError."""
        ...

    async def refund_star_payment(self, user_id: int, charge_id: str) -> bool:
        """Give a Telegram Stars payment back (refundStarPayment). True when refunded now,
        False when Telegram says it was refunded before. Raises TelegramSendError."""
        ...

    async def create_invoice_link(
        self,
        *,
        title: str,
        description: str,
        payload: str,
        currency: str,
        amount: int,
        label: str,
        provider_token: str,
    ) -> str:
        """A link that opens a Telegram invoice (createInvoiceLink): Stars with an empty
        provider token, cards through one. Raises TelegramSendError."""
        ...


class TelegramSendError(Exception):
    """A send that failed. ``permanent`` means retrying cannot help (chat gone, bot blocked)."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after


class ProviderState(StrEnum):
    """What a payment provider says of a payment."""

    PENDING = "pending"  # still waiting for the customer
    SUCCEEDED = "succeeded"  # money received
    FAILED = "failed"  # declined, or expired unpaid
    CANCELLED = "cancelled"  # called off by the shop or the customer


@dataclass(frozen=True)
class CheckoutRequest:
    """Ask a provider for a payment page. ``key`` is our idempotency key: the provider
    echoes it back with the payment, and a retry with the same key must not bill twice."""

    key: str
    amount: int  # minor units of ``currency``
    currency: str
    description: str
    expires_in: int  # seconds the customer has to pay
    return_url: str | None = None


@dataclass(frozen=True)
class ProviderCheckout:
    provider_payment_id: str
    pay_url: str  # where the customer pays


@dataclass(frozen=True)
class ProviderPayment:
    """A payment as its provider reports it (read from its API, or from a notification
    whose signature was verified)."""

    provider_payment_id: str
    state: ProviderState
    key: str | None  # our idempotency key, echoed back
    amount: int | None  # what was asked, in minor units of ``currency``
    currency: str | None
    reason: str | None = None  # why it failed or was cancelled: a short code (expired,
    # card_expired, insufficient_funds...), the provider's own where it has one
    test: bool | None = None  # the provider says it is a test payment
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProviderRefund:
    provider_refund_id: str
    done: bool  # False while the provider is still processing it


class ProviderError(Exception):
    """A provider call that failed. ``retryable`` when trying later may help (timeouts,
    5xx, rate limits); otherwise the provider refused what we asked, and says why."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class WebhookRejected(Exception):
    """A provider notification we do not believe: ``status`` is the HTTP answer (401 for
    a bad or missing signature, 403 for an address not allowed, 400 for a bad body)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class RefundsNotSupported(ProviderError):
    """This provider cannot send money back through its API."""


class PaymentProvider(Protocol):
    """One external payment provider (CryptoBot, YooKassa...). Adapters in payments/."""

    gateway: str  # a domain.payments.Gateway value
    currencies: frozenset[str] | None  # what it can bill in; None = whatever the shop uses

    async def create(self, request: CheckoutRequest) -> ProviderCheckout:
        """Open a payment; raises ProviderError."""
        ...

    async def fetch(self, provider_payment_id: str) -> ProviderPayment:
        """Read a payment from the provider's API; raises ProviderError."""
        ...

    async def read_webhook(
        self, body: bytes, headers: Mapping[str, str], client_ip: str | None
    ) -> ProviderPayment | None:
        """The payment a notification is about, as far as it can be trusted: verified by
        its signature, or re-read from the API. None for an event we have no use for.
        Raises WebhookRejected, or ProviderError when the re-read fails."""
        ...

    async def refund(
        self, provider_payment_id: str, amount: int, currency: str, key: str
    ) -> ProviderRefund:
        """Send ``amount`` of a payment back; ``key`` makes a retry safe. Raises
        RefundsNotSupported or ProviderError."""
        ...

    async def close(self) -> None: ...
