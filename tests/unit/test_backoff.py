"""Retry delays: exponential, capped, jittered, and never earlier than Telegram asks."""

from __future__ import annotations

import random

import pytest

from tgshop.jobs.backoff import backoff_delay


@pytest.mark.parametrize(
    ("failures", "low", "high"),
    [(1, 1.0, 2.0), (2, 2.0, 4.0), (3, 4.0, 8.0), (6, 32.0, 64.0)],
)
def test_delay_doubles_with_each_failure_and_keeps_half_of_it_fixed(
    failures: int, low: float, high: float
) -> None:
    assert backoff_delay(failures, base=2, maximum=3600, jitter=lambda: 0.0) == low
    assert backoff_delay(failures, base=2, maximum=3600, jitter=lambda: 0.999999) == (
        pytest.approx(high, rel=1e-5)
    )


def test_delay_never_exceeds_the_maximum_even_after_many_failures() -> None:
    rng = random.Random(7)
    for failures in (20, 100, 5000):
        delay = backoff_delay(failures, base=2, maximum=60, jitter=rng.random)
        assert 30 <= delay <= 60


def test_jitter_spreads_retries() -> None:
    rng = random.Random(1)
    delays = {round(backoff_delay(4, base=1, maximum=100, jitter=rng.random), 6) for _ in range(50)}
    assert len(delays) > 40
    assert all(4 <= delay < 8 for delay in delays)


def test_retry_after_is_honoured_when_longer_than_the_backoff() -> None:
    assert backoff_delay(1, base=2, maximum=3600, retry_after=37, jitter=lambda: 0.5) == 37


def test_backoff_wins_when_longer_than_retry_after() -> None:
    assert backoff_delay(5, base=2, maximum=3600, retry_after=1, jitter=lambda: 0.0) == 16


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"failures": 0, "base": 1, "maximum": 1}, "failures must be >= 1"),
        ({"failures": 1, "base": 0, "maximum": 1}, "must be positive"),
        ({"failures": 1, "base": 1, "maximum": -1}, "must be positive"),
    ],
)
def test_nonsense_arguments_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        backoff_delay(**kwargs)  # type: ignore[arg-type]
