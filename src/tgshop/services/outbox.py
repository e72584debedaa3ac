"""Enqueue side effects in the caller's transaction.

Rule: a side effect that must happen (notify, deliver, provision) is written as a job in the
same transaction as the change that causes it, so a crash after commit loses nothing and a
rollback sends nothing. A job with a ``dedup_key`` is written at most once, ever.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tgshop.db.models import OutboxJob
from tgshop.db.upsert import insert_for_dialect


@lru_cache(maxsize=8)
def _job_insert(dialect: str, deduplicated: bool) -> Any:
    stmt = insert_for_dialect(dialect, OutboxJob.__table__)
    return stmt.on_conflict_do_nothing(index_elements=["dedup_key"]) if deduplicated else stmt


def _job_row(
    kind: str,
    payload: dict[str, Any],
    dedup_key: str | None,
    now: datetime,
    run_after: datetime | None = None,
    max_attempts: int = 8,
) -> dict[str, Any]:
    return {
        "kind": kind,
        "payload": payload,
        "dedup_key": dedup_key,
        "status": "pending",
        "attempts": 0,
        "max_attempts": max_attempts,
        "run_after": run_after or now,
        "created_at": now,
        "updated_at": now,
    }


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: dict[str, Any],
    *,
    now: datetime,
    dedup_key: str | None = None,
    run_after: datetime | None = None,
    max_attempts: int = 8,
) -> bool:
    """Write one job; return False when a job with the same dedup_key already exists."""
    # Core on the session's connection, the statement built once: jobs are written on hot
    # paths (checkout, payments), where building it cost more than the insert itself.
    connection = await session.connection()
    result = await connection.execute(
        _job_insert(connection.dialect.name, dedup_key is not None),
        _job_row(kind, payload, dedup_key, now, run_after, max_attempts),
    )
    return bool(result.rowcount)


async def enqueue_many(
    session: AsyncSession, jobs: list[tuple[str, dict[str, Any], str]], *, now: datetime
) -> None:
    """Write several jobs, each ``(kind, payload, dedup_key)``, in one round trip (a job
    whose dedup_key exists already is skipped, as with :func:`enqueue`)."""
    if not jobs:
        return
    connection = await session.connection()
    await connection.execute(
        _job_insert(connection.dialect.name, True),
        [_job_row(kind, payload, dedup_key, now) for kind, payload, dedup_key in jobs],
    )
