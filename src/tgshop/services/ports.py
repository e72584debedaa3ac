"""Ports the use cases talk through; adapters live in db/, payments/, jobs/ and tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class TelegramClient(Protocol):
    """What the core needs from Telegram. Implemented over aiogram's Bot; faked in tests."""

    async def send_message(
        self, chat_id: int, text: str, *, parse_mode: str | None = "HTML"
    ) -> int:
        """Send a message; return its message id. Raises TelegramSendError on failure."""
        ...


class TelegramSendError(Exception):
    """A send that failed. ``permanent`` means retrying cannot help (chat gone, bot blocked)."""

    def __init__(self, message: str, *, permanent: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.permanent = permanent
        self.retry_after = retry_after
