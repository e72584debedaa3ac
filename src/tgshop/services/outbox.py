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
    # Core on the session's connection: jobs are written on hot paths (checkout), and the
    # ORM's bulk-insert machinery costs more than the insert itself.
    stmt = insert_for(session, OutboxJob.__table__)
    if dedup_key is not None:
        stmt = stmt.on_conflict_do_nothing(index_elements=["dedup_key"])
    connection = await session.connection()
    result = await connection.execute(
        stmt,
        {
            "kind": kind,
            "payload": payload,
            "dedup_key": dedup_key,
            "status": "pending",
            "attempts": 0,
            "max_attempts": max_attempts,
            "run_after": run_after or now,
            "created_at": now,
            "updated_at": now,
        },
    )
    return bool(result.rowcount)
