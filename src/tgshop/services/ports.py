"""Ports the use cases talk through; adapters live in db/, payments/, jobs/ and tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol


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


class TelegramSendError(Exception):
    """A send that failed. ``permanent`` means retrying cannot help (chat gone, bot blocked)."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
