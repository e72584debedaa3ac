"""Dialect-specific INSERT ... ON CONFLICT, for the two databases we support, and the
locked upsert of a runtime switch."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from tgshop.db.models import Setting


def insert_for(session: AsyncSession, table: Any) -> Any:
    """An INSERT that supports ``on_conflict_do_nothing/do_update`` on the session's database."""
    return insert_for_dialect(
        session.bind.dialect.name if session.bind is not None else "sqlite", table
    )


def insert_for_dialect(dialect: str, table: Any) -> Any:
    """The same, for a database named by its dialect (statements built once, ahead of use)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


async def locked_setting(session: AsyncSession, key: str, default: Any, now: Any) -> Any:
    """The ``settings`` row ``key`` (created with ``default`` if missing), locked for the
    rest of the transaction: two staff changing one switch at once are ordered."""
    await session.execute(
        insert_for(session, Setting)
        .values(key=key, value=default, updated_at=now)
        .on_conflict_do_nothing(index_elements=[Setting.key])
    )
    return (
        await session.execute(
            select(Setting)
            .where(Setting.key == key)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalar_one()
