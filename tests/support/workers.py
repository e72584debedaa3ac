"""The outbox worker as tests run it: a container of the test's own (as `tgshop worker`
would build one) and a worker that polls quickly, without jitter, until nothing is left."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from tests.support.fakes import FrozenClock
from tgshop.app import Container, build_container
from tgshop.config import Settings, WorkerSettings
from tgshop.db.engine import Database
from tgshop.jobs.handlers import default_handlers
from tgshop.jobs.worker import Worker


def quick_worker(container: Container) -> Worker:
    return Worker(
        container.db,
        default_handlers(container),
        WorkerSettings(poll_interval=0.02, max_attempts=3, shutdown_grace=1),
        container.clock,
        jitter=lambda: 0.0,
    )


async def run_jobs(worker: Worker) -> None:
    """Run every job that is due, and the jobs those write, until none is left."""
    while await worker.drain():
        pass


@asynccontextmanager
async def worker_side(
    settings: Settings, db: Database, clock: FrozenClock
) -> AsyncIterator[Worker]:
    """A worker with its own container on ``db``; its Telegram client and payment providers
    are closed afterwards (the database belongs to the session-wide fixture)."""
    container = build_container(settings, db=db, clock=clock)
    try:
        yield quick_worker(container)
    finally:
        close = getattr(container.telegram, "close", None)
        if close is not None:
            await close()
        for provider in container.providers.values():
            await provider.close()
