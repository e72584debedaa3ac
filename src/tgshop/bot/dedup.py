"""Telegram re-delivers an update whose answer was slow or not 2xx; each update is taken in
once. With Redis the marks live there (shared by every replica, expiring after a day);
without it, in the database."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Protocol, cast

from sqlalchemy import Table, bindparam, delete

from tgshop.db.engine import Database
from tgshop.db.models import ProcessedUpdate
from tgshop.db.upsert import insert_for_dialect
from tgshop.services.ports import Clock

if TYPE_CHECKING:
    from redis.asyncio import Redis

KEEP = timedelta(days=1)


class UpdateDeduplicator(Protocol):
    async def first_time(self, bot_id: int, update_id: int) -> bool:
        """True the first time an update id is seen, False for a re-delivery."""
        ...


class RedisDeduplicator:
    def __init__(self, redis: Redis, prefix: str = "tgshop") -> None:
        self._redis = redis
        self._prefix = prefix  # TGSHOP_REDIS_KEY_PREFIX

    async def first_time(self, bot_id: int, update_id: int) -> bool:
        key = f"{self._prefix}:update:{bot_id}:{update_id}"
        return bool(await self._redis.set(key, b"1", nx=True, ex=int(KEEP.total_seconds())))


class DatabaseDeduplicator:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        # Built once: every update pays for this statement, so it skips rebuilding (and
        # re-hashing) it each time.
        table = cast(Table, ProcessedUpdate.__table__)
        self._mark = (
            insert_for_dialect(db.dialect, table)
            .values(
                bot_id=bindparam("bot_id"),
                update_id=bindparam("update_id"),
                received_at=bindparam("received_at", type_=table.c.received_at.type),
            )
            .on_conflict_do_nothing(index_elements=["bot_id", "update_id"])
        )

    async def first_time(self, bot_id: int, update_id: int) -> bool:
        params = {"bot_id": bot_id, "update_id": update_id, "received_at": self._clock.now()}
        async with self._db.core_transaction() as connection:
            return bool((await connection.execute(self._mark, params)).rowcount)

    async def purge(self) -> int:
        """Forget marks older than a day (Telegram gives up re-delivering long before)."""
        async with self._db.transaction() as session:
            result = await session.execute(
                delete(ProcessedUpdate).where(
                    ProcessedUpdate.received_at < self._clock.now() - KEEP
                )
            )
            return int(result.rowcount)  # type: ignore[attr-defined]
