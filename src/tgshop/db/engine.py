"""Engine and session factories.

SQLite is tuned for a single busy process: WAL (readers never wait for the writer),
foreign keys on, a busy timeout, and write transactions opened with ``BEGIN IMMEDIATE`` so
two writers queue for the lock up front instead of failing half-way with
"database is locked" when a read turns into a write. Read-only units of work use a plain
deferred ``BEGIN``. Within one process, writers also queue on an asyncio lock: SQLite's busy
handler polls with growing sleeps and starves some writers under load, a FIFO lock does not.

PostgreSQL reads run without a transaction (READ COMMITTED gives each statement its own
snapshot either way). Pooled connections are tested before use only after sitting idle
(``TGSHOP_DATABASE_POOL_PING_AFTER_IDLE``), not on every checkout.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool, StaticPool

from tgshop.config import DatabaseSettings

_READONLY = "tgshop_readonly"


def _ping_when_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Test a pooled connection before use only when it has been idle a while.

    SQLAlchemy's ``pool_pre_ping`` spends a round trip on every checkout: under load that
    was about half the cost of a short read (0.5 of 1.1 ms on PostgreSQL here). A connection
    that went stale (a database restart, a firewall or server idle timeout, a failover) has
    almost always sat unused: that one is pinged, and replaced when the ping fails. One used
    a moment ago is not; if it died meanwhile, the read that meets it fails and the pool
    replaces it for the next one.
    """
    dialect = engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _returned(_dbapi_connection: Any, record: Any) -> None:
        record.info["returned_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _taken(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned = record.info.get("returned_at")
        if returned is None or time.monotonic() - returned < idle_seconds:
            return
        try:
            alive = dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the driver's own error types differ
            raise DisconnectionError("idle connection failed its ping") from exc
        if not alive:
            raise DisconnectionError("idle connection failed its ping")


def _sqlite_engine(settings: DatabaseSettings, url: str) -> AsyncEngine:
    database = make_url(url).database
    connect_args = {"timeout": settings.sqlite_busy_timeout_ms / 1000}
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
        pool: dict[str, Any] = {
            "pool_size": settings.pool_size,
            "max_overflow": settings.max_overflow,
            "pool_timeout": settings.pool_timeout,
        }
    else:
        # An in-memory database lives in one connection; share it (tests, experiments).
        pool = {"poolclass": StaticPool}
    engine = create_async_engine(url, echo=settings.echo, connect_args=connect_args, **pool)
    if settings.pool_pre_ping and "pool_size" in pool:
        _ping_when_idle(engine, settings.pool_ping_after_idle)
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


def _postgres_connect_args(settings: DatabaseSettings) -> dict[str, Any]:
    server_settings = {"application_name": "tgshop"}
    if settings.statement_timeout_ms:
        server_settings["statement_timeout"] = str(settings.statement_timeout_ms)
    return {"timeout": settings.connect_timeout, "server_settings": server_settings}


def _postgres_engine(settings: DatabaseSettings, url: str) -> AsyncEngine:
    engine = create_async_engine(
        url,
        echo=settings.echo,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout,
        connect_args=_postgres_connect_args(settings),
    )
    if settings.pool_pre_ping:
        _ping_when_idle(engine, settings.pool_ping_after_idle)
    return engine


def unpooled_postgres_engine(settings: DatabaseSettings) -> AsyncEngine:
    """An engine whose connections are opened on demand and closed when given back, with
    the same URL and connection settings as the pool's (for a connection held for long,
    such as a LISTEN, which must not take a pool slot nor go back to the pool)."""
    return create_async_engine(
        settings.url.get_secret_value(),
        poolclass=NullPool,
        connect_args=_postgres_connect_args(settings),
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
        if self.engine.dialect.name == "postgresql":
            # Under READ COMMITTED every statement takes its own snapshot, inside a
            # transaction or not; a read-only unit of work therefore loses nothing without
            # one, and saves the BEGIN and ROLLBACK round trips.
            self._read_engine = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        else:  # SQLite: a deferred BEGIN keeps one snapshot for the whole read
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
