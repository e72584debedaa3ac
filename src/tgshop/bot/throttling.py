"""Per-person rate limits on what reaches the bot (``TGSHOP_BOT_RATE_LIMIT``).

Rules:
- every limit of the setting (e.g. ``60/minute;10/second``) counts the updates of one person
  to one bot; shortest window first, so updates a burst limit refuses do not also use up
  the longer budget;
- an update over any limit is refused. The first refused update in that limit's window is
  told to slow down (:attr:`Verdict.NOTIFY`), later ones are dropped in silence
  (:attr:`Verdict.DROP`), so a flood never turns into a flood of answers;
- counts live in Redis when configured (every replica shares them), in process memory
  otherwise. Fixed windows that start at a person's first update: one counter per limit,
  the cheapest check, and a burst across a window edge (at most twice the limit) does not
  matter for flood protection;
- when Redis is down, the check fails open: the update is let through and a warning is
  logged — throttling protects the shop, it must not take the bot down with Redis (the FSM
  storage in Redis will then fail the update on its own, with an error id to the person).
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

import structlog
from limits import RateLimitItem, RateLimitItemPerSecond, parse_many

from tgshop.limits_storage import Limiter, fixed_window_limiter

if TYPE_CHECKING:
    from tgshop.app import Container

log = structlog.get_logger("tgshop.bot.throttling")


class Verdict(Enum):
    ALLOW = "allow"
    NOTIFY = "notify"  # refused; the first refusal in the window: say "slow down"
    DROP = "drop"  # refused again: say nothing


class UpdateThrottle:
    """Decides, per update, whether a person is within the configured limits."""

    def __init__(self, limits: list[RateLimitItem], limiter: Limiter) -> None:
        if not limits:
            raise ValueError("at least one rate limit is needed")
        self.limits = sorted(limits, key=lambda item: item.get_expiry())
        self._limiter = limiter
        # One notice per refusing limit's window, counted beside the updates themselves.
        self._notices = {
            id(item): RateLimitItemPerSecond(1, item.get_expiry(), namespace="NOTICE")
            for item in self.limits
        }

    async def check(self, bot_id: int, user_id: int) -> Verdict:
        who = (str(bot_id), str(user_id))
        try:
            for item in self.limits:
                if not await self._limiter.hit(item, "updates", *who):
                    first = await self._limiter.hit(self._notices[id(item)], "updates", *who)
                    return Verdict.NOTIFY if first else Verdict.DROP
        except Exception as exc:  # the counter store is unreachable: fail open (see module)
            log.warning(
                "throttle.unavailable",
                user_id=user_id,
                error=f"{type(exc).__name__}: {exc}",
                hint="updates are not rate limited until the storage answers again",
            )
        return Verdict.ALLOW


def build_throttle(container: Container) -> UpdateThrottle | None:
    """None when ``TGSHOP_BOT_RATE_LIMIT`` is empty (no limit)."""
    spec = container.settings.telegram.bot_rate_limit
    if not spec:
        return None
    return UpdateThrottle(parse_many(spec), fixed_window_limiter(container, "throttle"))
