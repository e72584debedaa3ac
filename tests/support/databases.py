"""Test databases: one migrated SQLite file and one migrated PostgreSQL database per run.

PostgreSQL comes from TGSHOP_TEST_POSTGRES_URL (default: the local server, database
``test``); the run creates its own database there and drops it at the end. When PostgreSQL
is not reachable its tests skip with the reason — except under CI=true, where they fail.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tgshop.config import DatabaseSettings
from tgshop.db import migrate
from tgshop.db.engine import Database, create_engine
from tgshop.db.models import Base

DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def admin_postgres_url() -> str:
    return os.environ.get("TGSHOP_TEST_POSTGRES_URL", DEFAULT_ADMIN_URL)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def postgres_unavailable_reason() -> str | None:
    try:
        conn = await asyncpg.connect(_asyncpg_dsn(admin_postgres_url()), timeout=3)
    except Exception as exc:
        return (
            f"PostgreSQL not reachable at {admin_postgres_url()} ({exc.__class__.__name__}: {exc})"
        )
    await conn.close()
    return None


async def create_postgres_database() -> str:
    """Create a fresh database; return its SQLAlchemy URL."""
    name = f"tgshop_test_{os.getpid()}_{secrets.token_hex(3)}"
    conn = await asyncpg.connect(_asyncpg_dsn(admin_postgres_url()))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return (
        make_url(admin_postgres_url())
        .set(drivername="postgresql+asyncpg", database=name)
        .render_as_string(hide_password=False)
    )


async def drop_postgres_database(url: str) -> None:
    name = make_url(url).database
    conn = await asyncpg.connect(_asyncpg_dsn(admin_postgres_url()))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def sqlite_url(directory: Path, name: str = "test.db") -> str:
    return f"sqlite+aiosqlite:///{directory / name}"


def database_for(url: str, **overrides: object) -> Database:
    return Database(create_engine(DatabaseSettings(url=url, **overrides)))  # type: ignore[arg-type]


async def migrated(url: str) -> Database:
    db = database_for(url)
    await migrate.upgrade(db)
    return db


async def wipe(db: Database) -> None:
    """Empty every table (children first) so each test starts from a clean database."""
    tables = list(reversed(Base.metadata.sorted_tables))
    async with db.engine.begin() as conn:
        if db.dialect == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            # Self-references (category tree) are checked at commit, when all rows are gone.
            await conn.execute(text("PRAGMA defer_foreign_keys = ON"))
            for table in tables:
                await conn.execute(table.delete())


def redis_url() -> str:
    return os.environ.get("TGSHOP_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def redis_unavailable_reason() -> str | None:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url(), socket_connect_timeout=2)
    try:
        await client.ping()
    except Exception as exc:
        return f"Redis not reachable at {redis_url()} ({exc.__class__.__name__})"
    finally:
        await client.aclose()
    return None
