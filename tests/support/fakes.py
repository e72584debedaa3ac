"""Fakes for ports that stand for the outside world (never for our own code)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tgshop.services.ports import (
    InlineButtons,
    StarTransaction,
    StarTransactionsPage,
    TelegramSendError,
)


class FrozenClock:
    """A clock a test moves by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 15, 12, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, **delta: float) -> None:
        self._now += timedelta(**delta)


@dataclass
class SentMessage:
    chat_id: int
    text: str
    parse_mode: str | None
    buttons: list[list[tuple[str, str]]] | None = None  # rows of (label, callback_data)

    @property
    def labels(self) -> list[str]:
        return [label for row in self.buttons or [] for label, _ in row]


@dataclass
class RecordingTelegram:
    """Records every message; can be told to fail the next N sends."""

    sent: list[SentMessage] = field(default_factory=list)
    star_refunds: list[tuple[int, str]] = field(default_factory=list)
    invoice_links: list[dict[str, object]] = field(default_factory=list)
    # What getStarTransactions lists, oldest first (incoming payments and anything else).
    stars_ledger: list[StarTransaction | None] = field(default_factory=list)
    fail_next: int = 0
    fail_permanently: bool = False
    delay: float = 0.0

    async def send_message(
        self,
        chat_id: int,
        text: str,
        *,
        parse_mode: str | None = "HTML",
        buttons: InlineButtons | None = None,
    ) -> int:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_next > 0:
            self.fail_next -= 1
            raise TelegramSendError("injected failure", permanent=self.fail_permanently)
        rows = [[(b.text, b.callback_data) for b in row] for row in buttons] if buttons else None
        self.sent.append(SentMessage(chat_id, text, parse_mode, rows))
        return len(self.sent)

    async def star_transactions(self, offset: int, limit: int) -> StarTransactionsPage:
        page = self.stars_ledger[offset : offset + limit]
        return StarTransactionsPage(len(page), [t for t in page if t is not None])

    async def create_invoice_link(self, **invoice: object) -> str:
        self.invoice_links.append(dict(invoice))
        return f"https://t.me/$fake{len(self.invoice_links)}"

    async def refund_star_payment(self, user_id: int, charge_id: str) -> bool:
        if (user_id, charge_id) in self.star_refunds:
            return False
        self.star_refunds.append((user_id, charge_id))
        return True
