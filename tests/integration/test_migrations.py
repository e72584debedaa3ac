"""Every revision upgrades and downgrades on both databases, and the models match head."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from tests.support import databases
from tgshop.db import migrate
from tgshop.db.models import Base


@pytest.fixture
async def fresh_url(backend: str, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if backend == "postgres":
        reason = await databases.postgres_unavailable_reason()
        if reason:
            if databases.in_ci():
                pytest.fail(reason)
            pytest.skip(reason)
        url = await databases.create_postgres_database()
        yield url
        await databases.drop_postgres_database(url)
    else:
        yield databases.sqlite_url(tmp_path, "stairway.db")


def _revisions() -> list[str]:
    script = ScriptDirectory.from_config(migrate.alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


async def test_stairway_up_and_down_every_revision(fresh_url: str) -> None:
    db = databases.database_for(fresh_url)
    try:
        revisions = _revisions()
        assert revisions, "there must be at least one migration"
        previous = "base"
        for revision in revisions:
            await migrate.upgrade(db, revision)
            assert await migrate.current_revision(db) == revision
            await migrate.downgrade(db, previous)
            await migrate.upgrade(db, revision)
            previous = revision
        assert await migrate.is_at_head(db)
        await migrate.downgrade(db, "base")
        async with db.engine.connect() as conn:
            tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
        assert set(tables) <= {"alembic_version"}
    finally:
        await db.dispose()


async def test_models_match_migrations(fresh_url: str) -> None:
    db = databases.database_for(fresh_url)
    try:
        await migrate.upgrade(db)

        def diff(connection):  # type: ignore[no-untyped-def]
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, Base.metadata)

        async with db.engine.connect() as conn:
            differences = await conn.run_sync(diff)
        assert differences == [], f"models and migrations differ: {differences}"
    finally:
        await db.dispose()


async def test_in_memory_sqlite_migrates() -> None:
    db = databases.database_for("sqlite+aiosqlite://")
    try:
        await migrate.upgrade(db)
        assert await migrate.is_at_head(db)
    finally:
        await db.dispose()
