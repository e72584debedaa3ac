"""Dialect-specific INSERT ... ON CONFLICT, for the two databases we support."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_for(session: AsyncSession, table: Any) -> Any:
    """An INSERT that supports ``on_conflict_do_nothing/do_update`` on the session's database."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
