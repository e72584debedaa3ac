"""The short-lived read memory behind CatalogService: freshness, bounds and clearing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.support.fakes import FrozenClock
from tgshop.services.read_cache import ReadCache


class Source:
    """Stands in for the database: counts reads and returns what it holds now."""

    def __init__(self) -> None:
        self.value = "v1"
        self.reads = 0

    def reader(self, key: str = "") -> Callable[[], Awaitable[str]]:
        async def read() -> str:
            self.reads += 1
            return f"{self.value}{key}"

        return read


async def test_a_result_is_reused_until_its_seconds_are_up() -> None:
    clock, source = FrozenClock(), Source()
    cache = ReadCache(clock, 5)
    assert await cache.get_or_load("k", source.reader()) == "v1"
    source.value = "v2"
    clock.advance(seconds=4.999)
    assert await cache.get_or_load("k", source.reader()) == "v1"
    assert source.reads == 1
    clock.advance(seconds=0.001)  # 5 s after the read began: too old
    assert await cache.get_or_load("k", source.reader()) == "v2"
    assert source.reads == 2


async def test_a_clock_that_goes_back_makes_results_stale_not_older() -> None:
    clock, source = FrozenClock(), Source()
    cache = ReadCache(clock, 5)
    await cache.get_or_load("k", source.reader())
    clock.advance(seconds=-60)
    source.value = "v2"
    assert await cache.get_or_load("k", source.reader()) == "v2"


async def test_zero_seconds_reads_every_time_and_keeps_nothing() -> None:
    source = Source()
    cache = ReadCache(FrozenClock(), 0)
    assert not cache.enabled
    for _ in range(3):
        await cache.get_or_load("k", source.reader())
    assert source.reads == 3 and len(cache) == 0


async def test_the_least_recently_used_goes_first_past_the_bound() -> None:
    source = Source()
    cache = ReadCache(FrozenClock(), 5, max_entries=2)
    await cache.get_or_load("a", source.reader("a"))
    await cache.get_or_load("b", source.reader("b"))
    await cache.get_or_load("a", source.reader("a"))  # "a" is now the more recent
    await cache.get_or_load("c", source.reader("c"))  # so "b" goes
    assert len(cache) == 2 and source.reads == 3
    await cache.get_or_load("a", source.reader("a"))
    await cache.get_or_load("c", source.reader("c"))
    assert source.reads == 3
    await cache.get_or_load("b", source.reader("b"))
    assert source.reads == 4 and len(cache) == 2


async def test_clear_forgets_and_a_read_under_way_is_not_kept() -> None:
    source = Source()
    cache = ReadCache(FrozenClock(), 5)
    await cache.get_or_load("k", source.reader())
    cache.clear()
    source.value = "v2"
    assert await cache.get_or_load("k", source.reader()) == "v2"

    async def read_then_a_change_lands() -> str:
        old = await source.reader()()
        source.value = "v3"
        cache.clear()  # e.g. an import committed while this read was running
        return old

    cache.clear()
    assert await cache.get_or_load("k", read_then_a_change_lands) == "v2"
    assert await cache.get_or_load("k", source.reader()) == "v3"


async def test_failures_are_not_remembered() -> None:
    source = Source()
    cache = ReadCache(FrozenClock(), 5)

    async def fail() -> str:
        raise LookupError("gone")

    with pytest.raises(LookupError):
        await cache.get_or_load("k", fail)
    assert await cache.get_or_load("k", source.reader()) == "v1"


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="seconds must not be negative"):
        ReadCache(FrozenClock(), -1)
    with pytest.raises(ValueError, match="max_entries must be at least 1"):
        ReadCache(FrozenClock(), 5, max_entries=0)


async def test_forget_drops_one_key_and_a_read_under_way_of_any_key_is_not_kept() -> None:
    source = Source()
    cache = ReadCache(FrozenClock(), 5)
    await cache.get_or_load("a", source.reader("a"))
    await cache.get_or_load("b", source.reader("b"))
    source.value = "v2"
    cache.forget("a")
    assert await cache.get_or_load("a", source.reader("a")) == "v2a"
    assert await cache.get_or_load("b", source.reader("b")) == "v1b"  # untouched

    async def read_then_a_change_lands() -> str:
        old = await source.reader("c")()
        cache.forget("a")  # a change to another key landed meanwhile
        return old

    await cache.get_or_load("c", read_then_a_change_lands)
    assert cache.peek("c") is None  # not kept: simpler than a generation per key


def test_peek_and_put_for_reads_of_several_keys_at_once() -> None:
    clock = FrozenClock()
    cache = ReadCache(clock, 5)
    assert cache.peek("k", "absent") == "absent"
    started, generation = clock.now(), cache.generation
    cache.put("k", "v1", started, generation)
    clock.advance(seconds=4)
    assert cache.peek("k") == "v1"
    clock.advance(seconds=1)  # 5 s after the read began
    assert cache.peek("k") is None and len(cache) == 0

    generation = cache.generation
    cache.clear()  # something changed while the read ran
    cache.put("k", "stale", clock.now(), generation)
    assert cache.peek("k") is None
    off = ReadCache(clock, 0)
    off.put("k", "v1", clock.now(), off.generation)
    assert off.peek("k") is None
