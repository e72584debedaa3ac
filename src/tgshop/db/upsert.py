"""Dialect-specific INSERT ... ON CONFLICT, for the two databases we support."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


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
