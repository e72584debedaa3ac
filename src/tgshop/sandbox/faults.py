"""Fault injection: make chosen Bot API methods fail the way Telegram and networks do.

A rule per method (or ``*``) gives the share of calls answered 429 with retry_after, the
share answered with a 5xx, the share whose connection is dropped without an answer, and an
added delay. Randomness comes from a seeded generator so a failing test can be replayed.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

from tgshop.sandbox.errors import ApiError, too_many_requests


class DropConnection(Exception):
    """Close the connection without answering."""


@dataclass
class FaultRule:
    too_many_requests: float = 0.0
    server_error: float = 0.0
    drop: float = 0.0
    delay: float = 0.0
    retry_after: int = 1

    def validate(self) -> None:
        for name in ("too_many_requests", "server_error", "drop"):
            share = getattr(self, name)
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be a share between 0 and 1")
        if self.too_many_requests + self.server_error + self.drop > 1.0:
            raise ValueError("the shares add up to more than 1")
        if not 0 <= self.delay <= 60:
            raise ValueError("delay must be between 0 and 60 seconds")
        if not 1 <= self.retry_after <= 3600:
            raise ValueError("retry_after must be between 1 and 3600 seconds")


@dataclass
class Faults:
    rules: dict[str, FaultRule] = field(default_factory=dict)
    seed: int = 0
    injected: int = 0

    def __post_init__(self) -> None:
        # Replayable, not secret: a seeded generator is the point.
        self._random = random.Random(self.seed)  # noqa: S311

    def set(self, method: str, rule: FaultRule) -> None:
        rule.validate()
        self.rules[method.lower()] = rule

    def clear(self) -> None:
        self.rules.clear()

    async def before(self, method: str) -> None:
        rule = self.rules.get(method) or self.rules.get("*")
        if rule is None:
            return
        if rule.delay:
            await asyncio.sleep(rule.delay)
        roll = self._random.random()
        if roll < rule.too_many_requests:
            self.injected += 1
            raise too_many_requests(rule.retry_after)
        roll -= rule.too_many_requests
        if roll < rule.server_error:
            self.injected += 1
            raise ApiError(500, "Internal Server Error")
        roll -= rule.server_error
        if roll < rule.drop:
            self.injected += 1
            raise DropConnection
