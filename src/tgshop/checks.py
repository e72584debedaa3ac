"""`tgshop check`: every configuration and environment problem, each with its variable and
a hint, so an operator fixes them all in one pass."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from tgshop.config import ConfigError, Problem, Settings, load_settings, settings_problems
from tgshop.db import migrate
from tgshop.db.engine import Database, create_engine, redacted_url


async def _database_problems(settings: Settings) -> list[Problem]:
    db = Database(create_engine(settings.database))
    where = redacted_url(settings.database)
    try:
        async with asyncio.timeout(settings.database.connect_timeout + 2):
            async with db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            current = await migrate.current_revision(db)
    except Exception as exc:
        return [
            Problem(
                "TGSHOP_DATABASE_URL",
                f"cannot connect to {where}: {exc.__class__.__name__}: "
                f"{str(exc).splitlines()[0][:200] if str(exc) else ''}",
                "is the server running and the URL right?",
            )
        ]
    finally:
        await db.dispose()
    head = migrate.head_revision()
    if current != head:
        return [
            Problem(
                "TGSHOP_DATABASE_URL",
                f"database {where} is at revision {current or 'none'}, code expects {head}",
                "run `tgshop migrate`",
            )
        ]
    return []


async def _catalog_problems(settings: Settings) -> list[Problem]:
    """Variants priced in another currency than the shop's cannot be sold (see cart rules)."""
    from sqlalchemy import func, select

    from tgshop.db.models import Variant

    db = Database(create_engine(settings.database))
    try:
        async with db.read() as session:
            stray = (
                await session.execute(
                    select(Variant.currency, func.count())
                    .where(Variant.currency != settings.shop.currency)
                    .group_by(Variant.currency)
                )
            ).all()
    finally:
        await db.dispose()
    return [
        Problem(
            "TGSHOP_SHOP_CURRENCY",
            f"{count} variant(s) are priced in {currency}, not {settings.shop.currency}; "
            "they are not for sale",
            "re-import the catalog with prices in the shop currency",
        )
        for currency, count in stray
    ]


async def _redis_problems(settings: Settings) -> list[Problem]:
    if settings.redis.url is None:
        return []
    from redis.asyncio import Redis

    client = Redis.from_url(settings.redis.url.get_secret_value(), socket_connect_timeout=3)
    try:
        await client.ping()
    except Exception as exc:
        return [
            Problem(
                "TGSHOP_REDIS_URL",
                f"Redis does not answer: {exc.__class__.__name__}",
                "is Redis running and the URL right? unset it to run without Redis",
            )
        ]
    finally:
        await client.aclose()
    return []


async def collect_problems(*, with_services: bool = True) -> tuple[Settings | None, list[Problem]]:
    """All problems: invalid variables, production rules, then database and Redis."""
    try:
        settings = load_settings()
    except ConfigError as exc:
        return None, exc.problems
    problems = settings_problems(settings)
    if with_services:
        database = await _database_problems(settings)
        problems += database or await _catalog_problems(settings)
        problems += await _redis_problems(settings)
    return settings, problems
