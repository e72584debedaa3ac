"""One poller per bot: Telegram answers a second getUpdates with Conflict, so two pollers
would fight forever. The lock is a PostgreSQL advisory lock (any host sharing the database)
or, on SQLite, a file lock beside the database file (one machine)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from tgshop.db.engine import Database


class PollerAlreadyRunning(RuntimeError):
    pass


def _key(bot_id: int) -> int:
    digest = hashlib.sha256(f"tgshop:polling:{bot_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class PollingLock:
    """Held for as long as this process polls; released on exit (or by the OS on a crash)."""

    def __init__(self, db: Database, bot_id: int) -> None:
        self._db = db
        self._bot_id = bot_id
        self._connection: AsyncConnection | None = None
        self._file: FileLock | None = None

    @property
    def where(self) -> str:
        if self._db.dialect == "postgresql":
            return f"PostgreSQL advisory lock {_key(self._bot_id)}"
        return f"file lock {self._lock_path()}"

    def _lock_path(self) -> Path:
        database = make_url(str(self._db.engine.url)).database or "tgshop"
        return Path(f"{database}.polling-{self._bot_id}.lock")

    async def acquire(self) -> None:
        if self._db.dialect == "postgresql":
            # A session-level lock lives as long as this connection: keep it out of the pool.
            connection = await self._db.engine.connect()
            got = (
                await connection.execute(
                    text("SELECT pg_try_advisory_lock(:k)"), {"k": _key(self._bot_id)}
                )
            ).scalar_one()
            await connection.commit()
            if not got:
                await connection.close()
                raise PollerAlreadyRunning(self.where)
            self._connection = connection
            return
        lock = FileLock(self._lock_path(), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise PollerAlreadyRunning(self.where) from None
        self._file = lock

    async def release(self) -> None:
        if self._connection is not None:
            await self._connection.execute(
                text("SELECT pg_advisory_unlock(:k)"), {"k": _key(self._bot_id)}
            )
            await self._connection.close()
            self._connection = None
        if self._file is not None:
            self._file.release()
            self._file = None

    async def __aenter__(self) -> PollingLock:
        await self.acquire()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.release()
