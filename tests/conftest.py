"""Shared fixtures. ``db`` runs a test on SQLite and on PostgreSQL (a fresh, migrated
database per run, emptied before each test)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import structlog

from tests.support import databases
from tests.support.fakes import FrozenClock, RecordingTelegram
from tests.support.sandbox import RunningSandbox, running_sandbox
from tgshop.config import AppSettings, Settings, load_settings
from tgshop.db.engine import Database
from tgshop.logging import configure_logging

BACKENDS = ["sqlite", "postgres"]


class _Backends:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.databases: dict[str, Database] = {}
        self.urls: dict[str, str] = {}
        self.unavailable: dict[str, str] = {}

    async def get(self, backend: str) -> Database:
        if backend in self.unavailable:
            _skip_or_fail(self.unavailable[backend])
        if backend not in self.databases:
            if backend == "postgres":
                reason = await databases.postgres_unavailable_reason()
                if reason:
                    self.unavailable[backend] = reason
                    _skip_or_fail(reason)
                url = await databases.create_postgres_database()
            else:
                url = databases.sqlite_url(self.tmp)
            self.urls[backend] = url
            self.databases[backend] = await databases.migrated(url)
        return self.databases[backend]

    async def close(self) -> None:
        for backend, db in self.databases.items():
            await db.dispose()
            if backend == "postgres":
                await databases.drop_postgres_database(self.urls[backend])


def _skip_or_fail(reason: str) -> None:
    if databases.in_ci():
        pytest.fail(f"{reason} — CI must run every test", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
async def backends(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[_Backends]:
    holder = _Backends(tmp_path_factory.mktemp("db"))
    yield holder
    await holder.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run database tests on every backend; ``@pytest.mark.postgres`` ones on PostgreSQL only
    (they prove what only a concurrent database can show, so SQLite has nothing to run)."""
    if "backend" in metafunc.fixturenames:
        only_pg = metafunc.definition.get_closest_marker("postgres") is not None
        metafunc.parametrize("backend", ["postgres"] if only_pg else BACKENDS)


@pytest.fixture
async def db(backends: _Backends, backend: str) -> Database:
    database = await backends.get(backend)
    await databases.wipe(database)
    return database


@pytest.fixture
async def db_url(db: Database, backends: _Backends, backend: str) -> str:
    return backends.urls[backend]


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def telegram() -> RecordingTelegram:
    return RecordingTelegram()


@pytest.fixture
def make_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Settings]:
    """Settings from a clean environment (no developer .env leaks in) plus overrides."""
    monkeypatch.chdir(tmp_path)
    import os

    for key in list(os.environ):
        if key.startswith("TGSHOP_") and not key.startswith("TGSHOP_TEST_"):
            monkeypatch.delenv(key)

    def make(**sections: dict[str, Any]) -> Settings:
        return load_settings(**sections)

    return make


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    """A fresh sandbox (flood limits off) on a free port, with one bot; see docs/testing.md."""
    async with running_sandbox() as running:
        yield running


@pytest.fixture(autouse=True)
def _logging_as_the_service_does() -> None:
    """Log like `tgshop serve` (plain tracebacks). structlog's unconfigured default renders
    rich tracebacks with locals, which can block the event loop for seconds and starve a
    sandbox served in the same loop."""
    if not structlog.is_configured():
        configure_logging(AppSettings(log_format="console"))
