"""Telegram's flood limits, enforced with token buckets.

Telegram asks bots to stay near 1 message per second per chat (short bursts pass), 20
messages per minute per group, and about 30 messages per second overall; beyond that it
answers 429 with ``retry_after``. The sandbox does the same so a bot's back-off is tested.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from tgshop.sandbox.errors import too_many_requests
from tgshop.sandbox.state import BotState


@dataclass
class Bucket:
    rate: float  # tokens per second
    burst: float
    tokens: float
    stamp: float

    def take(self, now: float) -> float:
        """Take a token; return 0, or the seconds until one is available (nothing taken)."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


@dataclass
class FloodLimits:
    enabled: bool = True
    private_rate: float = 1.0
    private_burst: float = 20
    group_rate: float = 20 / 60
    group_burst: float = 20
    global_rate: float = 30.0
    global_burst: float = 30
    _buckets: dict[tuple[str, object], Bucket] = field(default_factory=dict)

    def _bucket(self, key: tuple[str, object], rate: float, burst: float, now: float) -> Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(rate, burst, burst, now)
        return bucket

    def check(self, bot: BotState, chat_id: int | str) -> None:
        """Count one message to ``chat_id``; raise 429 with retry_after when over a limit."""
        if not self.enabled:
            return
        now = time.monotonic()
        is_group = isinstance(chat_id, int) and chat_id < 0
        rate, burst = (
            (self.group_rate, self.group_burst)
            if is_group
            else (self.private_rate, self.private_burst)
        )
        wait = max(
            self._bucket(("chat", (bot.id, chat_id)), rate, burst, now).take(now),
            self._bucket(("bot", bot.id), self.global_rate, self.global_burst, now).take(now),
        )
        if wait > 0:
            raise too_many_requests(max(1, math.ceil(wait)))
