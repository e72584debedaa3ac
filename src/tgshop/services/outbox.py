"""Enqueue side effects in the caller's transaction.

Rule: a side effect that must happen (notify, deliver, provision) is written as a job in the
same transaction as the change that causes it, so a crash after commit loses nothing and a
rollback sends nothing. A job with a ``dedup_key`` is written at most once, ever.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tgshop.db.models import OutboxJob
from tgshop.db.upsert import insert_for


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
    stmt = insert_for(session, OutboxJob).values(
        kind=kind,
        payload=payload,
        dedup_key=dedup_key,
        status="pending",
        attempts=0,
        max_attempts=max_attempts,
        run_after=run_after or now,
        created_at=now,
        updated_at=now,
    )
    if dedup_key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["dedup_key"])
    result = await session.execute(stmt)
    return bool(result.rowcount)  # type: ignore[attr-defined]
