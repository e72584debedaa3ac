"""The connection pool against a real PostgreSQL whose server drops a connection: one that
sat idle is tested before use and replaced, so the read succeeds; one used moments ago is
not tested (that round trip is half a short read), so the read that meets the dead
connection fails and the next one gets a fresh connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.support.databases import database_for
from tgshop.db.engine import Database

pytestmark = pytest.mark.postgres


async def backend_pid(db: Database) -> int:
    async with db.core_read() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def kill(db: Database, pid: int) -> None:
    """Drop a connection from the server's side, as a restart or an idle timeout would."""
    async with db.core_read() as connection:
        killed = await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        assert killed.scalar_one() is True


@asynccontextmanager
async def pool_with_a_dropped_connection(
    db_url: str, ping_after_idle: float
) -> AsyncIterator[tuple[Database, int]]:
    """A one-connection pool whose connection the server has just dropped, and its pid."""
    db = database_for(db_url, pool_ping_after_idle=ping_after_idle, pool_size=1, max_overflow=1)
    other = database_for(db_url)
    try:
        first = await backend_pid(db)
        await kill(other, first)
        yield db, first
    finally:
        await db.dispose()
        await other.dispose()


async def test_an_idle_connection_the_server_dropped_is_replaced_before_use(db_url: str) -> None:
    async with pool_with_a_dropped_connection(db_url, ping_after_idle=0) as (db, first):
        assert await backend_pid(db) != first  # tested, found dead, replaced: no error


async def test_a_connection_used_a_moment_ago_is_not_tested(db_url: str) -> None:
    async with pool_with_a_dropped_connection(db_url, ping_after_idle=3600) as (db, first):
        with pytest.raises(DBAPIError):
            await backend_pid(db)
        assert await backend_pid(db) != first  # the dead one was thrown away
