"""A process-local memory of read results, each kept for a few seconds.

It trades freshness for speed where a use case's rules allow it (see
:class:`~tgshop.services.catalog.CatalogService`): a result is served from memory for at most
``seconds`` after the read that produced it *started*, so it is never older than that.

- Time comes from the service's :class:`~tgshop.services.ports.Clock` (tests move a frozen
  clock instead of sleeping); a clock that jumps back makes every entry stale rather than
  keeping it longer.
- At most ``max_entries`` results are kept; the least recently used goes first.
- :meth:`ReadCache.clear` forgets everything and :meth:`ReadCache.forget` one key; a read
  that was already under way when either was called is not remembered (it may have seen the
  database before the change). That holds for reads of every key, not only the forgotten
  one: simpler than a generation per key, and it costs at most one more read per key.
- Only results are kept: an exception from a read reaches its caller and nothing is stored.
- Concurrent misses of one key each read the database (no single-flight): with a TTL of
  seconds that is at most one read per key per request in flight, and it keeps a cancelled
  or failed read from affecting anyone else's.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime, timedelta
from typing import TypeVar, cast

from tgshop.services.ports import Clock

T = TypeVar("T")
DEFAULT_MAX_ENTRIES = 1000
_MISSING = object()  # a remembered result may be None


class ReadCache:
    def __init__(
        self, clock: Clock, seconds: float, *, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._clock = clock
        self._ttl = timedelta(seconds=seconds)
        self._max_entries = max_entries
        self._entries: OrderedDict[Hashable, tuple[datetime, object]] = OrderedDict()
        self._generation = 0  # bumped by clear(): reads started before it are not stored

    @property
    def enabled(self) -> bool:
        return self._ttl > timedelta(0)

    def __len__(self) -> int:
        return len(self._entries)

    async def get_or_load(self, key: Hashable, load: Callable[[], Awaitable[T]]) -> T:
        """The remembered result for ``key`` while it is fresh, else ``await load()``
        (remembered for next time)."""
        if not self.enabled:
            return await load()
        remembered = self.peek(key, _MISSING)
        if remembered is not _MISSING:
            return cast(T, remembered)
        started, generation = self._clock.now(), self._generation
        value = await load()
        self.put(key, value, started, generation)
        return value

    def peek(self, key: Hashable, default: object = None) -> object:
        """The remembered result for ``key`` while it is fresh, else ``default`` (for a
        caller that loads several keys in one read, then :meth:`put` s each)."""
        entry = self._entries.get(key)
        if entry is None:
            return default
        read_at, value = entry
        if read_at <= self._clock.now() < read_at + self._ttl:
            self._entries.move_to_end(key)
            return value
        del self._entries[key]
        return default

    @property
    def generation(self) -> int:
        """Take it (and the time) before a read; hand both to :meth:`put` after it."""
        return self._generation

    def put(self, key: Hashable, value: object, started: datetime, generation: int) -> None:
        """Remember ``value``, read from ``started`` on, unless something was forgotten since
        ``generation`` was taken."""
        if not self.enabled or generation != self._generation:
            return
        self._entries[key] = (started, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
        self._generation += 1

    def forget(self, key: Hashable) -> None:
        self._entries.pop(key, None)
        self._generation += 1
