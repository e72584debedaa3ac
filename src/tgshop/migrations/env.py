"""Alembic environment: async engines, our naming convention, batch mode on SQLite."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from tgshop.db.models import Base

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection | None, **kwargs: Any) -> None:
    url = config.get_main_option("sqlalchemy.url")
    is_sqlite = (connection.dialect.name if connection is not None else str(url)).startswith(
        "sqlite"
    )
    context.configure(
        connection=connection,
        url=None if connection is not None else url,
        target_metadata=target_metadata,
        render_as_batch=is_sqlite,
        compare_type=True,
        **kwargs,
    )


def _run_sync(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    from tgshop.config import DatabaseSettings
    from tgshop.db.engine import create_engine

    settings = DatabaseSettings(url=config.get_main_option("sqlalchemy.url"))
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run_sync)
            await connection.commit()
    finally:
        await engine.dispose()


if context.is_offline_mode():
    _configure(None, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
elif (connection := config.attributes.get("connection")) is not None:
    _run_sync(connection)
else:
    asyncio.run(_run_async())
