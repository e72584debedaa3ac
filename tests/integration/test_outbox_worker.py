"""The outbox worker on SQLite and PostgreSQL: claim, run, retry, bury, shut down, survive
crashes, and never run a job twice."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.support import databases
from tests.support.fakes import FrozenClock, RecordingTelegram
from tests.support.outbox_worker_process import CRASH_KIND, LEASE_SECONDS, WORKER_ID
from tgshop.config import WorkerSettings
from tgshop.db.engine import Database
from tgshop.db.models import OutboxJob
from tgshop.jobs.job import Handler, Job, PermanentJobError
from tgshop.jobs.worker import Worker
from tgshop.services.outbox import enqueue
from tgshop.services.ports import TelegramSendError

REPO_ROOT = Path(__file__).parents[2]


def worker_settings(**overrides: Any) -> WorkerSettings:
    values: dict[str, Any] = {
        "concurrency": 4,
        "poll_interval": 0.02,
        "max_attempts": 8,
        "backoff_base": 2.0,
        "backoff_max": 600.0,
        "lease_seconds": 30.0,
        "shutdown_grace": 1.0,
    }
    values.update(overrides)
    return WorkerSettings(**values)


def make_worker(
    db: Database, handlers: dict[str, Handler], clock: FrozenClock, **kwargs: Any
) -> Worker:
    settings = kwargs.pop("settings", None) or worker_settings()
    kwargs.setdefault("jitter", lambda: 0.0)
    return Worker(db, handlers, settings, clock, **kwargs)


async def add_jobs(
    db: Database, clock: FrozenClock, kind: str, count: int = 1, **options: Any
) -> list[int]:
    async with db.transaction() as session:
        for index in range(count):
            await enqueue(session, kind, {"n": index}, now=clock.now(), **options)
    async with db.read() as session:
        rows = await session.execute(
            select(OutboxJob.id).where(OutboxJob.kind == kind).order_by(OutboxJob.id)
        )
        return list(rows.scalars())


async def job(db: Database, job_id: int) -> OutboxJob:
    async with db.read() as session:
        row = await session.get(OutboxJob, job_id)
        assert row is not None
        session.expunge(row)  # keep its loaded state after the read-only rollback
        return row


async def all_jobs(db: Database) -> list[OutboxJob]:
    async with db.read() as session:
        rows = list((await session.execute(select(OutboxJob).order_by(OutboxJob.id))).scalars())
        session.expunge_all()
        return rows


class Recorder:
    """A handler that records the ids it ran."""

    def __init__(self) -> None:
        self.ran: list[int] = []

    async def __call__(self, job: Job) -> None:
        await asyncio.sleep(0)  # let other workers interleave
        self.ran.append(job.id)


async def wait_for(predicate: Any, within: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


# ------------------------------------------------------------------------- the happy path


async def test_a_job_runs_once_and_is_marked_done(db: Database, clock: FrozenClock) -> None:
    recorder = Recorder()
    [job_id] = await add_jobs(db, clock, "record")
    worker = make_worker(db, {"record": recorder}, clock)

    assert await worker.drain() == 1
    assert await worker.drain() == 0

    assert recorder.ran == [job_id]
    row = await job(db, job_id)
    assert (row.status, row.attempts, row.locked_by, row.locked_until) == ("done", 1, None, None)
    assert row.finished_at == clock.now()
    assert row.last_error is None
    assert worker.counters()["processed"] == 1


async def test_jobs_not_yet_due_wait_for_their_time(db: Database, clock: FrozenClock) -> None:
    recorder = Recorder()
    [job_id] = await add_jobs(db, clock, "record", run_after=clock.now() + timedelta(minutes=5))
    worker = make_worker(db, {"record": recorder}, clock)

    assert await worker.drain() == 0
    clock.advance(minutes=5)
    assert await worker.drain() == 1
    assert recorder.ran == [job_id]


async def test_a_dedup_key_writes_the_job_once(db: Database, clock: FrozenClock) -> None:
    async with db.transaction() as session:
        first = await enqueue(session, "record", {}, now=clock.now(), dedup_key="order:1:new")
    async with db.transaction() as session:
        second = await enqueue(session, "record", {}, now=clock.now(), dedup_key="order:1:new")
    recorder = Recorder()
    await make_worker(db, {"record": recorder}, clock).drain()
    assert (first, second) == (True, False)
    assert len(recorder.ran) == 1


# ------------------------------------------------------------------------------ failures


async def test_a_failure_is_retried_after_a_backoff(db: Database, clock: FrozenClock) -> None:
    calls: list[int] = []

    async def flaky(job: Job) -> None:
        calls.append(job.attempt)
        if job.attempt == 1:
            raise RuntimeError(
                "boom with token 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
                " via postgresql://shop:hunter2@db/shop"
            )

    [job_id] = await add_jobs(db, clock, "flaky")
    worker = make_worker(db, {"flaky": flaky}, clock)

    await worker.drain()
    row = await job(db, job_id)
    assert (row.status, row.attempts, row.locked_by) == ("pending", 1, None)
    assert row.last_error is not None
    assert "RuntimeError: boom" in row.last_error
    assert "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw" not in row.last_error
    assert "hunter2" not in row.last_error
    # First failure: base 2 s, equal jitter with jitter()=0 → half of it.
    assert row.run_after == clock.now() + timedelta(seconds=1)

    assert await worker.drain() == 0  # not due yet
    clock.advance(seconds=1)
    assert await worker.drain() == 1
    row = await job(db, job_id)
    assert (row.status, row.attempts) == ("done", 2)
    assert calls == [1, 2]
    assert (worker.failed, worker.processed, worker.dead) == (1, 1, 0)


async def test_a_job_that_keeps_failing_goes_dead_after_max_attempts(
    db: Database, clock: FrozenClock
) -> None:
    calls: list[int] = []

    async def broken(job: Job) -> None:
        calls.append(job.attempt)
        raise ValueError(f"still broken ({job.attempt})")

    [job_id] = await add_jobs(db, clock, "broken", max_attempts=3)
    worker = make_worker(db, {"broken": broken}, clock)
    for _ in range(6):
        await worker.drain()
        clock.advance(hours=1)

    row = await job(db, job_id)
    assert (row.status, row.attempts, row.locked_by) == ("dead", 3, None)
    assert row.finished_at is not None
    assert row.last_error == "ValueError: still broken (3)"
    assert calls == [1, 2, 3]
    assert (worker.failed, worker.dead) == (2, 1)


async def test_the_worker_max_attempts_setting_caps_every_job(
    db: Database, clock: FrozenClock
) -> None:
    """TGSHOP_WORKER_MAX_ATTEMPTS lowers the limit of jobs written with a higher one."""
    calls: list[tuple[int, int]] = []

    async def broken(job: Job) -> None:
        calls.append((job.attempt, job.max_attempts))
        raise ValueError("still broken")

    [job_id] = await add_jobs(db, clock, "broken", max_attempts=8)
    worker = make_worker(db, {"broken": broken}, clock, settings=worker_settings(max_attempts=2))
    for _ in range(4):
        await worker.drain()
        clock.advance(hours=1)

    row = await job(db, job_id)
    assert (row.status, row.attempts, row.locked_by) == ("dead", 2, None)
    assert calls == [(1, 2), (2, 2)]
    assert (worker.failed, worker.dead) == (1, 1)


async def test_a_permanent_telegram_error_buries_the_job_at_once(
    db: Database, clock: FrozenClock, telegram: RecordingTelegram
) -> None:
    telegram.fail_next, telegram.fail_permanently = 1, True

    async def send(job: Job) -> None:
        await telegram.send_message(42, "hi")

    [job_id] = await add_jobs(db, clock, "send")
    worker = make_worker(db, {"send": send}, clock)
    await worker.drain()
    clock.advance(hours=10)
    assert await worker.drain() == 0

    row = await job(db, job_id)
    assert (row.status, row.attempts) == ("dead", 1)
    assert "injected failure" in (row.last_error or "")
    assert telegram.sent == []


async def test_a_permanent_job_error_buries_the_job_at_once(
    db: Database, clock: FrozenClock
) -> None:
    async def picky(job: Job) -> None:
        raise PermanentJobError("payload.order_id: expected an integer, got None")

    [job_id] = await add_jobs(db, clock, "picky")
    await make_worker(db, {"picky": picky}, clock).drain()
    row = await job(db, job_id)
    assert (row.status, row.attempts) == ("dead", 1)
    assert row.last_error == ("PermanentJobError: payload.order_id: expected an integer, got None")


async def test_telegram_retry_after_is_honoured(db: Database, clock: FrozenClock) -> None:
    async def flooded(job: Job) -> None:
        raise TelegramSendError("Too Many Requests", retry_after=120)

    [job_id] = await add_jobs(db, clock, "flooded")
    await make_worker(db, {"flooded": flooded}, clock).drain()
    row = await job(db, job_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.run_after == clock.now() + timedelta(seconds=120)


async def test_an_unknown_kind_goes_dead_with_a_clear_error(
    db: Database, clock: FrozenClock
) -> None:
    [job_id] = await add_jobs(db, clock, "mystery")
    worker = make_worker(db, {"record": Recorder()}, clock)
    await worker.drain()
    row = await job(db, job_id)
    assert row.status == "dead"
    assert row.last_error == "PermanentJobError: no handler for job kind 'mystery'"
    assert worker.dead == 1


async def test_a_handler_that_hangs_times_out_below_the_lease(
    db: Database, clock: FrozenClock
) -> None:
    async def hangs(job: Job) -> None:
        await asyncio.sleep(60)

    [job_id] = await add_jobs(db, clock, "hangs")
    worker = make_worker(db, {"hangs": hangs}, clock, handler_timeout=0.2)
    await worker.drain()
    row = await job(db, job_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.last_error == "timed out after 0.2s: TimeoutError"


@pytest.mark.parametrize("timeout", [26, 30, 45])
def test_a_handler_timeout_without_a_margin_below_the_lease_is_refused(
    clock: FrozenClock, timeout: float
) -> None:
    settings = worker_settings(lease_seconds=30)
    with pytest.raises(ValueError, match=r"must be at least 5s below the lease \(30s"):
        Worker(None, {}, settings, clock, handler_timeout=timeout)  # type: ignore[arg-type]


def test_a_handler_timeout_must_be_positive(clock: FrozenClock) -> None:
    with pytest.raises(ValueError, match="handler_timeout must be positive"):
        Worker(None, {}, worker_settings(), clock, handler_timeout=0)  # type: ignore[arg-type]


def test_the_default_handler_timeout_leaves_the_margin(clock: FrozenClock) -> None:
    def timeout_for(lease: float, **kwargs: Any) -> float:
        settings = worker_settings(lease_seconds=lease)
        return Worker(None, {}, settings, clock, **kwargs).handler_timeout  # type: ignore[arg-type]

    assert timeout_for(30) == 24
    assert timeout_for(300) == 240
    assert timeout_for(30, handler_timeout=25) == 25


async def test_a_claim_that_waited_for_the_database_starts_its_lease_when_it_began(
    db: Database, db_url: str, clock: FrozenClock
) -> None:
    """The claim waits — for SQLite's writer lock, or here on PostgreSQL for the pool's only
    connection — while time passes; its lease counts from when its transaction began."""
    start = clock.now()
    [job_id] = await add_jobs(db, clock, "work")
    started, release = asyncio.Event(), asyncio.Event()

    async def work(job: Job) -> None:
        started.set()
        await release.wait()

    worker_db = databases.database_for(db_url, pool_size=1, max_overflow=0)
    try:
        worker = make_worker(worker_db, {"work": work}, clock)
        async with worker_db.transaction() as session:
            await session.execute(select(OutboxJob.id).limit(1))  # holds the lock / connection
            claiming = asyncio.create_task(worker.run_once())
            await asyncio.sleep(0.3)
            assert not started.is_set(), "the claim waits for the database"
            clock.advance(seconds=100)
        await asyncio.wait_for(started.wait(), 10)

        row = await job(db, job_id)
        assert row.status == "running"
        assert row.updated_at == start + timedelta(seconds=100)
        assert row.locked_until == start + timedelta(seconds=100 + 30)
        release.set()
        assert await asyncio.wait_for(claiming, 10) == 1
    finally:
        release.set()
        await worker_db.dispose()


@pytest.mark.postgres
async def test_a_claim_skips_rows_another_transaction_has_locked(
    db: Database, clock: FrozenClock
) -> None:
    """SKIP LOCKED: a row held by someone else is passed over at once, not waited for."""
    ids = await add_jobs(db, clock, "record", 3)
    recorder = Recorder()
    worker = make_worker(db, {"record": recorder}, clock)
    async with db.transaction() as session:
        await session.execute(select(OutboxJob.id).where(OutboxJob.id == ids[0]).with_for_update())
        assert await asyncio.wait_for(worker.run_once(), 5) == 2
    assert sorted(recorder.ran) == ids[1:]
    assert (await job(db, ids[0])).status == "pending"


# ------------------------------------------------------ outbox: commit, rollback, restart


async def test_a_rolled_back_transaction_leaves_no_job(db: Database, clock: FrozenClock) -> None:
    async def business_change() -> None:
        async with db.transaction() as session:
            await enqueue(session, "send", {"chat": 1}, now=clock.now(), dedup_key="k1")
            raise RuntimeError("business change failed")

    with pytest.raises(RuntimeError, match="business change failed"):
        await business_change()
    assert await all_jobs(db) == []


async def test_a_job_committed_while_no_worker_runs_is_sent_once_later(
    db: Database, db_url: str, clock: FrozenClock, telegram: RecordingTelegram
) -> None:
    # The "business" transaction commits; the process dies before any send happens.
    async with db.transaction() as session:
        await enqueue(session, "send", {"chat": 7, "text": "hello"}, now=clock.now())

    async def send(job: Job) -> None:
        await telegram.send_message(job.payload["chat"], job.payload["text"])

    # A new process: its own engine, its own worker.
    restarted = databases.database_for(db_url)
    try:
        worker = make_worker(restarted, {"send": send}, clock)
        assert await worker.drain() == 1
        assert await worker.drain() == 0
    finally:
        await restarted.dispose()
    assert [(m.chat_id, m.text) for m in telegram.sent] == [(7, "hello")]


# ----------------------------------------------------------------- concurrency and loop


async def test_run_keeps_at_most_concurrency_jobs_in_flight(
    db: Database, clock: FrozenClock
) -> None:
    running, peak, done = 0, 0, []

    async def slow(job: Job) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.05)
        running -= 1
        done.append(job.id)

    ids = await add_jobs(db, clock, "slow", 10)
    worker = make_worker(db, {"slow": slow}, clock, settings=worker_settings(concurrency=3))
    task = asyncio.create_task(worker.run())
    await wait_for(lambda: len(done) == 10)
    worker.stop()
    await task

    assert sorted(done) == ids
    assert peak == 3
    assert {row.status for row in await all_jobs(db)} == {"done"}


async def test_two_workers_never_run_a_job_twice(
    db: Database, db_url: str, backend: str, clock: FrozenClock
) -> None:
    count, workers = (300, 4) if backend == "postgres" else (60, 2)
    ids = await add_jobs(db, clock, "record", count)
    recorder = Recorder()
    engines = [databases.database_for(db_url) for _ in range(workers)]
    try:
        pool = [
            make_worker(engine, {"record": recorder}, clock, worker_id=f"w{index}")
            for index, engine in enumerate(engines)
        ]
        await asyncio.gather(*(worker.drain() for worker in pool))
    finally:
        for engine in engines:
            await engine.dispose()

    counts = Counter(recorder.ran)
    assert sorted(counts) == ids, "every job ran"
    assert max(counts.values()) == 1, "no job ran twice"
    assert sum(worker.processed for worker in pool) == count
    if backend == "postgres":
        # SQLite has one claimer at a time by design, and under load one worker may drain
        # 60 quick jobs before the other connects; PostgreSQL with 300 must really share.
        assert sum(1 for worker in pool if worker.processed) >= 2, "the work was really shared"
    assert {row.status for row in await all_jobs(db)} == {"done"}


# ------------------------------------------------------------------- shutdown and crash


async def test_stop_lets_jobs_in_flight_finish_within_the_grace(
    db: Database, clock: FrozenClock
) -> None:
    started, finished = asyncio.Event(), []

    async def short(job: Job) -> None:
        started.set()
        await asyncio.sleep(0.2)
        finished.append(job.id)

    [job_id] = await add_jobs(db, clock, "short")
    worker = make_worker(db, {"short": short}, clock)
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 10)
    worker.stop()
    await task

    assert finished == [job_id]
    assert (await job(db, job_id)).status == "done"
    assert worker.released == 0


async def test_stop_releases_jobs_that_outlive_the_grace(db: Database, clock: FrozenClock) -> None:
    started = asyncio.Event()

    async def stuck(job: Job) -> None:
        started.set()
        await asyncio.sleep(3600)

    [job_id] = await add_jobs(db, clock, "work")
    worker = make_worker(
        db, {"work": stuck}, clock, settings=worker_settings(shutdown_grace=0.2), worker_id="a"
    )
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 10)
    worker.stop()
    await asyncio.wait_for(task, 10)

    row = await job(db, job_id)
    assert (row.status, row.locked_by, row.locked_until, row.attempts) == ("pending", None, None, 0)
    assert worker.released == 1

    # Another worker takes it at once — no lease to wait for.
    recorder = Recorder()
    assert await make_worker(db, {"work": recorder}, clock, worker_id="b").drain() == 1
    row = await job(db, job_id)
    assert (row.status, row.attempts) == ("done", 1)
    assert recorder.ran == [job_id]


async def test_shutdown_never_releases_a_job_whose_handler_already_returned(
    db: Database, clock: FrozenClock
) -> None:
    """The send happened; only the "done" write is slow. Shutdown must wait for that write
    rather than release the job, or the message would be sent again."""
    started, locked = asyncio.Event(), asyncio.Event()
    sent: list[int] = []

    async def send(job: Job) -> None:
        started.set()
        await locked.wait()
        sent.append(job.id)

    [job_id] = await add_jobs(db, clock, "send")
    worker = make_worker(db, {"send": send}, clock, settings=worker_settings(shutdown_grace=0.2))
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 10)
    async with db.transaction() as session:  # hold the row (PostgreSQL) / the writer lock (SQLite)
        await session.execute(select(OutboxJob.id).where(OutboxJob.id == job_id).with_for_update())
        locked.set()
        await wait_for(lambda: sent)
        worker.stop()
        await asyncio.sleep(0.6)  # the grace passes while the outcome write waits on our lock
        assert not task.done()
    await asyncio.wait_for(task, 20)

    row = await job(db, job_id)
    assert (row.status, row.attempts, row.locked_by) == ("done", 1, None)
    assert (worker.processed, worker.released) == (1, 0)
    assert await make_worker(db, {"send": send}, clock).drain() == 0
    assert sent == [job_id]


async def test_a_job_whose_outcome_cannot_be_saved_is_left_to_its_lease_not_released(
    db: Database, db_url: str, clock: FrozenClock
) -> None:
    """The send happened but every try to write "done" fails while shutdown's grace runs
    out. Releasing the job would send the message again at once: it stays claimed and only
    its lease can hand it over."""
    go = asyncio.Event()
    sent: list[int] = []

    async def send(job: Job) -> None:
        await go.wait()
        sent.append(job.id)

    [job_id] = await add_jobs(db, clock, "send")
    # Waits on a lock give up fast: every outcome write fails while the test holds it.
    worker_db = databases.database_for(db_url, statement_timeout_ms=100, sqlite_busy_timeout_ms=100)
    settings = worker_settings(concurrency=1, shutdown_grace=0.2)
    worker = make_worker(worker_db, {"send": send}, clock, worker_id="w", settings=settings)
    task = asyncio.create_task(worker.run())
    try:
        await wait_for(lambda: worker.in_flight == 1)
        async with db.transaction() as session:
            # PostgreSQL: a lock on the row; SQLite: BEGIN IMMEDIATE holds the writer lock.
            await session.execute(
                select(OutboxJob.id).where(OutboxJob.id == job_id).with_for_update()
            )
            go.set()
            await wait_for(lambda: sent)
            worker.stop()
            # The grace passes while the write is retried; then the worker stops, lock held.
            await asyncio.wait_for(task, 20)
    finally:
        task.cancel()
        await worker_db.dispose()

    row = await job(db, job_id)
    assert (row.status, row.locked_by, row.attempts) == ("running", "w", 1)
    assert (worker.processed, worker.released) == (0, 0)
    assert sent == [job_id]


async def test_a_cancelled_worker_leaves_its_lease_and_the_job_runs_once_after_it(
    db: Database, clock: FrozenClock
) -> None:
    started = asyncio.Event()

    async def stuck(job: Job) -> None:
        started.set()
        await asyncio.sleep(3600)

    [job_id] = await add_jobs(db, clock, "work")
    crashing = make_worker(db, {"work": stuck}, clock, worker_id="crashing")
    task = asyncio.create_task(crashing.run())
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()  # no graceful path: as if the process died
    with pytest.raises(asyncio.CancelledError):
        await task

    row = await job(db, job_id)
    assert (row.status, row.locked_by, row.attempts) == ("running", "crashing", 1)

    recorder = Recorder()
    survivor = make_worker(db, {"work": recorder}, clock, worker_id="survivor")
    assert await survivor.drain() == 0, "the lease still protects the job"
    clock.advance(seconds=30.001)
    assert await survivor.drain() == 1
    assert await survivor.drain() == 0
    assert recorder.ran == [job_id]
    row = await job(db, job_id)
    assert (row.status, row.attempts, row.locked_by) == ("done", 2, None)


async def test_a_worker_that_lost_its_lease_does_not_finish_the_job(
    db: Database, clock: FrozenClock
) -> None:
    release, started = asyncio.Event(), asyncio.Event()
    slow_ran: list[int] = []

    async def slow(job: Job) -> None:
        started.set()
        await release.wait()
        slow_ran.append(job.id)

    [job_id] = await add_jobs(db, clock, "work")
    slow_worker = make_worker(db, {"work": slow}, clock, worker_id="slow", handler_timeout=20)
    first = asyncio.create_task(slow_worker.run_once())
    await asyncio.wait_for(started.wait(), 10)

    clock.advance(seconds=31)  # the slow worker's lease has passed
    recorder = Recorder()
    fast = make_worker(db, {"work": recorder}, clock, worker_id="fast")
    assert await fast.drain() == 1
    release.set()
    await first

    row = await job(db, job_id)
    assert (row.status, row.attempts) == ("done", 2)
    assert slow_worker.processed == 0, "the outcome of a lost lease is not written"
    assert fast.processed == 1


async def test_a_job_whose_last_attempt_crashed_is_buried_not_rerun(
    db: Database, clock: FrozenClock
) -> None:
    started = asyncio.Event()

    async def stuck(job: Job) -> None:
        started.set()
        await asyncio.sleep(3600)

    [job_id] = await add_jobs(db, clock, "work", max_attempts=1)
    task = asyncio.create_task(make_worker(db, {"work": stuck}, clock).run())
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    clock.advance(seconds=31)
    recorder = Recorder()
    await make_worker(db, {"work": recorder}, clock).drain()
    row = await job(db, job_id)
    assert row.status == "dead"
    assert "never finished" in (row.last_error or "")
    assert recorder.ran == []


async def test_a_killed_worker_process_leaves_a_job_that_runs_exactly_once_later(
    db: Database, db_url: str, tmp_path: Path
) -> None:
    """SIGKILL a real worker process mid-job; after the lease another worker runs it once."""
    start = datetime.now(UTC)
    clock = FrozenClock(start)
    [job_id] = await add_jobs(db, clock, CRASH_KIND)
    marker = tmp_path / "marker.txt"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.outbox_worker_process",
        db_url,
        str(marker),
        cwd=REPO_ROOT,
        # This checkout's src first: the venv's editable install may point at another one.
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "src"), str(REPO_ROOT)])},
    )
    try:
        await wait_for(lambda: marker.exists() or process.returncode is not None, within=60)
        assert process.returncode is None, "the worker process died on its own"
        assert marker.read_text() == f"started {job_id}\n"
    finally:
        process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(process.wait(), 30)
    assert process.returncode == -signal.SIGKILL

    row = await job(db, job_id)
    assert (row.status, row.locked_by, row.attempts) == ("running", WORKER_ID, 1)

    recorder = Recorder()
    survivor = make_worker(db, {CRASH_KIND: recorder}, clock, worker_id="survivor")
    assert await survivor.drain() == 0, "the dead worker's lease is still valid"
    clock.advance(seconds=LEASE_SECONDS + 120)
    assert await survivor.drain() == 1
    assert await survivor.drain() == 0

    assert recorder.ran == [job_id]
    assert marker.read_text() == f"started {job_id}\n", "the killed run never finished"
    row = await job(db, job_id)
    assert (row.status, row.attempts, row.locked_by) == ("done", 2, None)


# ------------------------------------------------------------------------ periodic tasks


async def test_periodic_tasks_run_at_their_interval_between_claims(
    db: Database, clock: FrozenClock
) -> None:
    runs: list[datetime] = []

    async def expire_unpaid() -> int:
        runs.append(clock.now())
        return 0

    async def broken() -> None:
        raise RuntimeError("periodic failure")

    recorder = Recorder()
    worker = make_worker(
        db, {"record": recorder}, clock, periodic=[(60, expire_unpaid), (1, broken)]
    )
    await worker.run_once()
    await worker.run_once()
    assert runs == [clock.now()], "first run at start, then not before the interval"

    clock.advance(seconds=59)
    await worker.run_once()
    assert len(runs) == 1
    clock.advance(seconds=1)
    [job_id] = await add_jobs(db, clock, "record")
    assert await worker.run_once() == 1, "a failing periodic task does not stop the jobs"
    assert len(runs) == 2
    assert recorder.ran == [job_id]
    assert worker.periodic_failures == 3  # the 1-second task: at start, +59 s, +60 s


async def test_periodic_tasks_repeat_under_run_and_failures_are_counted(
    db: Database, clock: FrozenClock
) -> None:
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        ticks += 1

    async def broken() -> None:
        raise RuntimeError("periodic failure")

    worker = make_worker(db, {}, clock, periodic=[(0.05, tick), (0.05, broken)])
    task = asyncio.create_task(worker.run())
    try:
        await wait_for(lambda: ticks >= 3 and worker.periodic_failures >= 3)
        worker.stop()
        await asyncio.wait_for(task, 10)
    finally:
        task.cancel()


async def test_a_slow_periodic_task_delays_neither_claiming_nor_stop(
    db: Database, clock: FrozenClock
) -> None:
    entered, cancelled = asyncio.Event(), asyncio.Event()

    async def slow_expiry() -> None:
        entered.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    recorder = Recorder()
    worker = make_worker(
        db, {"record": recorder}, clock, periodic=[(60, slow_expiry)], handler_timeout=20
    )
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.wait_for(entered.wait(), 10)
        [job_id] = await add_jobs(db, clock, "record")
        await wait_for(lambda: recorder.ran == [job_id], within=5)
        worker.stop()
        await asyncio.wait_for(task, 5)
    finally:
        task.cancel()
    assert cancelled.is_set(), "shutdown cancels a periodic task that is still running"
    assert worker.periodic_failures == 0


def test_a_periodic_interval_must_be_positive(clock: FrozenClock) -> None:
    async def tick() -> None:
        return None

    with pytest.raises(ValueError, match="interval must be positive"):
        Worker(None, {}, worker_settings(), clock, periodic=[(0, tick)])  # type: ignore[arg-type]


async def test_a_hung_periodic_task_is_cut_off_and_jobs_go_on(
    db: Database, clock: FrozenClock
) -> None:
    async def hangs() -> None:
        await asyncio.sleep(60)

    recorder = Recorder()
    [job_id] = await add_jobs(db, clock, "record")
    worker = make_worker(
        db, {"record": recorder}, clock, periodic=[(60, hangs)], handler_timeout=0.2
    )
    assert await asyncio.wait_for(worker.run_once(), 10) == 1
    assert worker.periodic_failures == 1
    assert recorder.ran == [job_id]
