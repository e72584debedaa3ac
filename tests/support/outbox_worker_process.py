"""A real outbox worker process for crash tests: ``python -m tests.support.outbox_worker_process
DATABASE_URL MARKER_FILE``.

Its only handler (kind ``crash_test``) writes ``started <job id>`` to MARKER_FILE and then
blocks, so the test can SIGKILL the process mid-job; were the job ever to finish here, the
marker would also say ``finished``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.support.databases import database_for
from tgshop.config import WorkerSettings
from tgshop.jobs.job import Job
from tgshop.jobs.worker import Worker
from tgshop.services.ports import SystemClock

CRASH_KIND = "crash_test"
WORKER_ID = "doomed-worker"
LEASE_SECONDS = 60.0


def write_atomically(path: Path, text: str) -> None:
    """The test polls the marker: it must never see a half-written file."""
    partial = path.with_suffix(".partial")
    partial.write_text(text)
    os.replace(partial, path)


async def main(url: str, marker: Path) -> None:
    db = database_for(url)

    async def block(job: Job) -> None:
        await asyncio.to_thread(write_atomically, marker, f"started {job.id}\n")
        await asyncio.sleep(3600)
        await asyncio.to_thread(write_atomically, marker, f"started {job.id}\nfinished {job.id}\n")

    worker = Worker(
        db,
        {CRASH_KIND: block},
        WorkerSettings(
            concurrency=1,
            poll_interval=0.05,
            max_attempts=8,
            backoff_base=1,
            backoff_max=60,
            lease_seconds=LEASE_SECONDS,
            shutdown_grace=0,
        ),
        SystemClock(),
        worker_id=WORKER_ID,
    )
    try:
        await worker.run()
    finally:
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2])))
