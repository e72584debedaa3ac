"""Retry delays: exponential backoff with jitter.

Rule: the n-th failure waits about ``base * 2**(n-1)`` seconds, never more than ``maximum``.
"Equal jitter" keeps half of that delay fixed and randomises the other half, so retries
spread out (no thundering herd after an outage) yet never come back almost at once.
A delay the remote side asked for (Telegram's ``retry_after``) is honoured: we never retry
earlier than that.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def backoff_delay(
    failures: int,
    *,
    base: float,
    maximum: float,
    retry_after: float | None = None,
    jitter: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after the ``failures``-th failure (1-based).

    ``jitter`` returns a number in [0, 1); tests pass a fixed one.
    """
    if failures < 1:
        raise ValueError(f"failures must be >= 1, got {failures}")
    if base <= 0 or maximum <= 0:
        raise ValueError(f"base and maximum must be positive, got {base} and {maximum}")
    # Cap the exponent first: 2**1000 as a float overflows long before it is capped.
    ceiling = min(maximum, base * 2.0 ** min(failures - 1, 64))
    delay = ceiling / 2 + (ceiling / 2) * jitter()
    if retry_after is not None and retry_after > delay:
        return float(retry_after)
    return delay
