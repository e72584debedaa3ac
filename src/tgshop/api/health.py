"""Liveness and readiness.

``/health`` answers whether the process serves HTTP at all; it touches nothing else, so a
slow database never gets a healthy process restarted.

``/ready`` answers whether this replica should get traffic: the database answers
``SELECT 1``, its schema is at the migration head (a replica must not serve an old or a
newer schema), and Redis answers PING when it is configured. Each check has a short
timeout, so ``/ready`` answers within a bounded time even when a dependency hangs; it
answers 200 with the details of every check, or 503 with the reason of each failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter
from sqlalchemy import inspect, text
from starlette.responses import JSONResponse

from tgshop.db import migrate
from tgshop.logging import redact_text

if TYPE_CHECKING:
    from tgshop.app import Container

NO_STORE = {"Cache-Control": "no-store"}
ALEMBIC_VERSION_TABLE = "alembic_version"


class SchemaNotAtHead(Exception):
    """The database schema is behind (or ahead of) the code's migration head."""


class ReadinessChecks:
    """The checks of one container. The migration head is read from the scripts on first
    use (never at build time) and kept: scripts do not change under a running process."""

    def __init__(self, container: Container, *, timeout: float) -> None:
        self.container = container
        self.timeout = timeout
        self._head: str | None = None

    async def database(self) -> None:
        async with self.container.db.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def migrations(self) -> None:
        if self._head is None:
            self._head = await asyncio.to_thread(migrate.head_revision)
        current = await self._current_revision()
        if current != self._head:
            raise SchemaNotAtHead(
                f"database schema is at {current or 'no revision'}, code expects {self._head};"
                " run `tgshop migrate`"
            )

    async def _current_revision(self) -> str | None:
        # Read alembic_version directly: Alembic's MigrationContext would log two INFO
        # lines on every probe.
        async with self.container.db.engine.connect() as connection:
            exists = await connection.run_sync(
                lambda sync: inspect(sync).has_table(ALEMBIC_VERSION_TABLE)
            )
            if not exists:
                return None
            versions = await connection.scalars(
                text(f"SELECT version_num FROM {ALEMBIC_VERSION_TABLE}")  # noqa: S608 - constant
            )
            return ", ".join(sorted(versions)) or None

    async def redis(self) -> None:
        assert self.container.redis is not None
        await self.container.redis.ping()

    async def run(self) -> tuple[bool, dict[str, dict[str, Any]]]:
        async def database_then_schema() -> dict[str, dict[str, Any]]:
            results = {"database": await self._timed(self.database)}
            if results["database"]["ok"]:
                results["migrations"] = await self._timed(self.migrations)
            else:
                results["migrations"] = {"ok": False, "reason": "database unreachable"}
            return results

        jobs: list[Awaitable[dict[str, dict[str, Any]]]] = [database_then_schema()]
        if self.container.redis is not None:
            jobs.append(self._named("redis", self.redis))
        checks: dict[str, dict[str, Any]] = {}
        for result in await asyncio.gather(*jobs):
            checks.update(result)
        return all(check["ok"] for check in checks.values()), checks

    async def _named(self, name: str, check: Callable[[], Awaitable[None]]) -> dict[str, Any]:
        return {name: await self._timed(check)}

    async def _timed(self, check: Callable[[], Awaitable[None]]) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                await check()
        except TimeoutError:
            reason = f"no answer within {self.timeout:g}s"
        except SchemaNotAtHead as exc:
            reason = str(exc)
        except Exception as exc:
            # Driver messages name hosts and users at most; still, never show a credential.
            message = redact_text(str(exc))[:300]
            reason = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
        else:
            return {"ok": True, "duration_ms": _ms_since(started)}
        return {"ok": False, "reason": reason, "duration_ms": _ms_since(started)}


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def build_health_router(container: Container, *, check_timeout: float) -> APIRouter:
    router = APIRouter(tags=["health"])
    checks = ReadinessChecks(container, timeout=check_timeout)

    @router.get("/health", summary="Liveness: the process serves HTTP")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok"}, headers=NO_STORE)

    @router.get("/ready", summary="Readiness: database, schema and Redis answer")
    async def ready() -> JSONResponse:
        ok, results = await checks.run()
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "checks": results},
            status_code=200 if ok else 503,
            headers=NO_STORE,
        )

    return router
