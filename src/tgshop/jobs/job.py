"""What a job handler receives and how it says "never retry this"."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Job:
    """A claimed outbox job. ``attempt`` counts this run (1 on the first try).

    ``max_attempts`` is the limit in force for this run: the job's own, capped by the
    worker's ``TGSHOP_WORKER_MAX_ATTEMPTS``. The run with ``attempt == max_attempts`` is the
    last; if it fails the job is dead.
    """

    id: int
    kind: str
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    dedup_key: str | None = None


Handler = Callable[[Job], Awaitable[None]]


class PermanentJobError(Exception):
    """A failure that retrying cannot fix (bad payload, the order no longer exists):
    the worker marks the job dead at once instead of backing off."""
