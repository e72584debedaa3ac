"""Where rate-limit counters live: Redis when configured (every replica shares them, on the
container's connection pool, through the ``limits`` library), process memory otherwise.

The memory counters are our own few lines (:class:`MemoryWindows`): ``limits``' async memory
storage sweeps every key through a thread every 10 ms, and with one key per customer that
cost more than the requests being counted."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from limits import RateLimitItem, WindowStats
from limits.aio.storage import RedisStorage
from limits.aio.strategies import FixedWindowRateLimiter

if TYPE_CHECKING:
    from tgshop.app import Container


class Limiter(Protocol):
    async def hit(self, item: RateLimitItem, *identifiers: str) -> bool: ...

    async def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats: ...


class MemoryWindows:
    """Fixed-window counters in process memory: one (window end, count) per limit and key,
    O(1) per hit; ended windows are dropped as the table is swept, once per thousand hits."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._windows: dict[tuple[str, ...], list[float]] = {}
        self._hits = 0

    async def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        now = self._clock()
        key = (item.key_for(*identifiers),)
        window = self._windows.get(key)
        if window is None or window[0] <= now:
            window = self._windows[key] = [now + item.get_expiry(), 0]
        window[1] += 1
        self._hits += 1
        if self._hits % 1000 == 0:
            self._windows = {k: w for k, w in self._windows.items() if w[0] > now}
        return window[1] <= item.amount

    async def get_window_stats(self, item: RateLimitItem, *identifiers: str) -> WindowStats:
        window = self._windows.get((item.key_for(*identifiers),))
        now = self._clock()
        if window is None or window[0] <= now:
            return WindowStats(time.time(), item.amount)
        return WindowStats(time.time() + window[0] - now, max(item.amount - int(window[1]), 0))


def fixed_window_limiter(container: Container, purpose: str) -> Limiter:
    """Fixed windows in Redis (``limits``, keys under TGSHOP_REDIS_KEY_PREFIX:``purpose``)
    when configured, else :class:`MemoryWindows`."""
    settings = container.settings.redis
    if container.redis is None or settings.url is None:
        return MemoryWindows()
    storage = RedisStorage(
        "async+" + settings.url.get_secret_value(),
        implementation="redispy",
        key_prefix=f"{settings.key_prefix}:{purpose}",
        # The container's client pool: one set of connections, closed with the container.
        connection_pool=container.redis.connection_pool,  # type: ignore[arg-type]
    )
    return FixedWindowRateLimiter(storage)
