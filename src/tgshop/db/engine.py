"""Engine and session factories.

SQLite is tuned for a single busy process: WAL (readers never wait for the writer),
foreign keys on, a busy timeout, and write transactions opened with ``BEGIN IMMEDIATE`` so
two writers queue for the lock up front instead of failing half-way with
"database is locked" when a read turns into a write. Read-only units of work use a plain
deferred ``BEGIN``. Within one process, writers also queue on an asyncio lock: SQLite's busy
handler polls with growing sleeps and starves some writers under load, a FIFO lock does not.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import StaticPool

from tgshop.config import DatabaseSettings

_READONLY = "tgshop_readonly"


def _sqlite_engine(settings: DatabaseSettings, url: str) -> AsyncEngine:
    database = make_url(url).database
    connect_args = {"timeout": settings.sqlite_busy_timeout_ms / 1000}
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        pool: dict[str, Any] = {
            "pool_size": settings.pool_size,
            "max_overflow": settings.max_overflow,
            "pool_timeout": settings.pool_timeout,
            "pool_pre_ping": settings.pool_pre_ping,
        }
    else:
        # An in-memory database lives in one connection; share it (tests, experiments).
        pool = {"poolclass": StaticPool}
    engine = create_async_engine(url, echo=settings.echo, connect_args=connect_args, **pool)
    busy_ms = settings.sqlite_busy_timeout_ms

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when a transaction begins.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        readonly = conn.get_execution_options().get(_READONLY, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


def _postgres_engine(settings: DatabaseSettings, url: str) -> AsyncEngine:
    server_settings = {"application_name": "tgshop"}
    if settings.statement_timeout_ms:
        server_settings["statement_timeout"] = str(settings.statement_timeout_ms)
    return create_async_engine(
        url,
        echo=settings.echo,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        pool_pre_ping=settings.pool_pre_ping,
        connect_args={"timeout": settings.connect_timeout, "server_settings": server_settings},
    )


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    url = settings.url.get_secret_value()
    if settings.is_sqlite:
        return _sqlite_engine(settings, url)
    return _postgres_engine(settings, url)


@dataclass
class Database:
    """The engine plus two session factories: read-write and read-only."""

    engine: AsyncEngine

    def __post_init__(self) -> None:
        self._write = async_sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self._read_engine = self.engine.execution_options(**{_READONLY: True})
        self._read = async_sessionmaker(
            self._read_engine,
            expire_on_commit=False,
            autoflush=False,
        )
        self._write_lock = asyncio.Lock() if self.engine.dialect.name == "sqlite" else None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits when the block ends, rolls back on any exception."""
        if self._write_lock is None:
            async with self._write() as session, session.begin():
                yield session
            return
        async with self._write_lock, self._write() as session, session.begin():
            yield session

    @asynccontextmanager
    async def core_transaction(self) -> AsyncIterator[AsyncConnection]:
        """A unit of work on a bare connection, for the few statements every update pays for
        (no ORM session to set up); commits when the block ends, rolls back on any exception."""
        if self._write_lock is None:
            async with self.engine.begin() as connection:
                yield connection
            return
        async with self._write_lock, self.engine.begin() as connection:
            yield connection

    @asynccontextmanager
    async def core_read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only unit of work on a bare connection (never commits)."""
        async with self._read_engine.connect() as connection:
            yield connection

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A read-only unit of work (never commits)."""
        async with self._read() as session:
            try:
                yield session
            finally:
                await session.rollback()

    async def dispose(self) -> None:
        await self.engine.dispose()


def redacted_url(settings: DatabaseSettings) -> str:
    return make_url(settings.url.get_secret_value()).render_as_string(hide_password=True)
