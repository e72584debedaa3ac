"""The outbox worker: claims due jobs, runs their handlers, retries, buries, shuts down.

Rules:
- Claiming is one short transaction. PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` so
  concurrent workers never claim the same row; SQLite: the write transaction is
  ``BEGIN IMMEDIATE``, so claims are serialised and the conditional ``UPDATE`` (re-checking
  that the row is still claimable) is enough. A claim sets ``running``, ``locked_by`` (this
  worker), ``locked_until`` (now + lease) and counts the attempt. "Now" is read once the
  transaction holds its connection (and, on SQLite, the writer lock): a claim that waited
  for the lock must not start with a lease that is already partly spent.
- A ``running`` row whose lease has passed belongs to a worker presumed dead and is claimed
  again. Its lost run counts as an attempt, so a job that kills its worker every time still
  ends up dead instead of looping forever.
- The handler runs outside any transaction, under a timeout at least ``LEASE_MARGIN``
  seconds below the lease, so a live worker has time to write the outcome of its own slow
  handler before anyone may reclaim the job.
- Outcomes are written conditionally on ``locked_by = me`` and ``status = 'running'``: a
  worker that lost its lease cannot finish (or fail) a job another worker has taken over.
- Success → ``done``. Failure → back to ``pending`` with exponential backoff and jitter
  (honouring Telegram's ``retry_after``), or ``dead`` once ``max_attempts`` runs have
  failed — the job's own limit, capped by ``TGSHOP_WORKER_MAX_ATTEMPTS``. A permanent
  failure (blocked user, bad payload) or an unknown kind → ``dead`` at once. Dead jobs are
  logged at error level.
- ``stop()`` stops claiming; in-flight jobs get ``shutdown_grace`` seconds, the rest are
  cancelled and released (``pending``, unlocked, attempt not counted) for another worker.
  A job whose handler already returned is never released: its outcome is written first,
  and if that write fails the job stays locked until its lease passes, so shutdown cannot
  make a sent message send again.
- Periodic tasks (``expire_unpaid``) run in their own asyncio tasks beside the claim loop,
  so a slow one delays neither claiming nor ``stop()``; shutdown cancels them.
- Delivery is at least once: a worker killed after a send but before writing ``done`` lets
  the job run again after the lease. Handlers therefore check their own effects where they
  can; the window is kept as small as one UPDATE.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from tgshop.config import WorkerSettings
from tgshop.db.engine import Database
from tgshop.db.models import OutboxJob
from tgshop.jobs.backoff import backoff_delay
from tgshop.jobs.job import Handler, Job, PermanentJobError
from tgshop.logging import redact_text
from tgshop.services.ports import Clock, TelegramSendError

log = structlog.get_logger("tgshop.jobs.worker")

PeriodicCallable = Callable[[], Awaitable[object]]
MAX_ERROR_LENGTH = 2000
# Seconds between a handler's timeout and the end of its lease: time to write the outcome
# before another worker may take the job over.
LEASE_MARGIN = 5.0


def describe_error(exc: BaseException) -> str:
    """A secret-free, bounded description of a failure for ``last_error`` and logs.

    A bot token (an HTTP error from the Bot API carries it in its URL) or a database
    password must never reach the jobs table: the same redaction as the log pipeline.
    """
    detail = str(exc).strip()
    text = redact_text(f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__)
    if len(text) > MAX_ERROR_LENGTH:
        text = text[: MAX_ERROR_LENGTH - 1] + "…"
    return text


def default_worker_id() -> str:
    """host-pid-random: unique per process, readable in the jobs table (max 64 chars)."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}-{secrets.token_hex(3)}"


@dataclass
class _Periodic:
    interval: float
    func: PeriodicCallable
    name: str
    next_due: datetime | None = None  # run_once()'s schedule, by the injected clock


@dataclass(frozen=True)
class _Outcome:
    """What happened to one run: ``error`` is None on success."""

    error: BaseException | None = None
    note: str | None = None


def _claimable(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(OutboxJob.status == "pending", OutboxJob.run_after <= now),
        and_(OutboxJob.status == "running", OutboxJob.locked_until < now),
    )


class Worker:
    """Runs outbox jobs with ``handlers`` (job kind → async handler).

    ``periodic`` is a list of ``(interval_seconds, async callable)``. Under ``run()`` each
    runs in its own task: at start, then ``interval`` seconds after the previous run ended,
    cut off after ``handler_timeout``. ``run_once()`` runs those due by the clock first.
    Every worker runs them, so they must be safe to run concurrently (conditional updates)
    and to interrupt (one transaction per unit of work), as ``OrderService.expire_unpaid``
    is.
    Counters ``processed``, ``failed`` (will retry), ``dead`` and ``released`` are readable.
    """

    def __init__(
        self,
        db: Database,
        handlers: Mapping[str, Handler],
        settings: WorkerSettings,
        clock: Clock,
        worker_id: str | None = None,
        *,
        periodic: Sequence[tuple[float, PeriodicCallable]] = (),
        handler_timeout: float | None = None,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.db = db
        self.handlers = dict(handlers)
        self.settings = settings
        self.clock = clock
        self.worker_id = worker_id or default_worker_id()
        if len(self.worker_id) > 64:
            raise ValueError(f"worker_id is longer than 64 characters: {self.worker_id!r}")
        lease = settings.lease_seconds
        # Well below the lease, so a live worker's handler never outlives its claim and its
        # outcome is written before the lease could pass.
        if handler_timeout is None:
            handler_timeout = min(lease * 0.8, lease - LEASE_MARGIN)
        if handler_timeout <= 0:
            raise ValueError(f"handler_timeout must be positive, got {handler_timeout:g}s")
        if lease - handler_timeout < LEASE_MARGIN:
            raise ValueError(
                f"handler_timeout ({handler_timeout:g}s) must be at least {LEASE_MARGIN:g}s "
                f"below the lease ({lease:g}s, TGSHOP_WORKER_LEASE_SECONDS), so the outcome "
                "of a timed-out job is written before another worker may reclaim it"
            )
        self.handler_timeout = handler_timeout
        self._jitter = jitter
        self._periodic: list[_Periodic] = []
        for interval, func in periodic:
            if interval <= 0:
                raise ValueError(f"periodic task interval must be positive, got {interval}")
            name = getattr(func, "__qualname__", None) or repr(func)
            self._periodic.append(_Periodic(float(interval), func, name))
        self.processed = 0
        self.failed = 0
        self.dead = 0
        self.released = 0
        self.periodic_failures = 0
        self._in_flight: dict[asyncio.Task[None], Job] = {}
        # Job ids whose handler has returned (or raised) and whose outcome is not yet saved:
        # shutdown must never release them.
        self._settled: set[int] = set()
        self._writes: set[asyncio.Future[None]] = set()
        self._stopping = asyncio.Event()
        self._running = False

    # ----------------------------------------------------------------- public surface

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)

    def stop(self) -> None:
        """Ask ``run()`` to stop claiming and shut down gracefully (safe from signal handlers)."""
        self._stopping.set()

    async def run(self) -> None:
        """Claim and run jobs until ``stop()``; then finish or release what is in flight.

        Cancelling this task instead of calling ``stop()`` behaves like a crash: running jobs
        are cancelled and left locked until their lease passes.
        """
        if self._running:
            raise RuntimeError("this worker is already running")
        self._running = True
        log.info("worker.started", worker_id=self.worker_id, concurrency=self.settings.concurrency)
        periodic = [
            asyncio.create_task(self._periodic_loop(task), name=f"periodic-{task.name}")
            for task in self._periodic
        ]
        stop_wait = asyncio.ensure_future(self._stopping.wait())
        try:
            while not self._stopping.is_set():
                free = self.settings.concurrency - len(self._in_flight)
                if free > 0 and not self._stopping.is_set():
                    for job in await self._claim_safely(free):
                        self._start(job)
                await asyncio.wait(
                    {stop_wait, *self._in_flight},
                    timeout=self.settings.poll_interval,
                    return_when=asyncio.FIRST_COMPLETED,
                )
        except asyncio.CancelledError:
            await self._abandon()
            raise
        finally:
            stop_wait.cancel()
            await self._cancel_all(periodic)
            self._running = False
        await self._shutdown()
        log.info("worker.stopped", worker_id=self.worker_id, **self.counters())

    async def run_once(self) -> int:
        """Run the periodic tasks due by the clock, then claim one batch and run it to the
        end; return how many jobs were claimed (tests and one-shot runs)."""
        await self._run_due_periodic()
        jobs = await self._claim(self.settings.concurrency)
        tasks = [self._start(job) for job in jobs]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        return len(jobs)

    async def drain(self, max_rounds: int = 10_000) -> int:
        """``run_once`` until nothing is due; return how many jobs were claimed in all."""
        total = 0
        for _ in range(max_rounds):
            claimed = await self.run_once()
            if claimed == 0:
                break
            total += claimed
        return total

    def counters(self) -> dict[str, int]:
        return {
            "processed": self.processed,
            "failed": self.failed,
            "dead": self.dead,
            "released": self.released,
            "in_flight": len(self._in_flight),
        }

    # ------------------------------------------------------------------------ claiming

    async def _claim_safely(self, limit: int) -> list[Job]:
        try:
            return await self._claim(limit)
        except Exception as exc:  # the database may be restarting; try again next poll
            log.error("worker.claim_failed", worker_id=self.worker_id, error=describe_error(exc))
            return []

    async def _claim(self, limit: int) -> list[Job]:
        async with self.db.transaction() as session:
            # Begin first (a pooled connection; on SQLite the writer lock and BEGIN IMMEDIATE,
            # which may wait), then read the clock: the lease starts when the claim does.
            await session.connection()
            now = self.clock.now()
            candidates = (
                select(OutboxJob.id)
                .where(_claimable(now))
                .order_by(OutboxJob.run_after, OutboxJob.id)
                .limit(limit)
                .with_for_update(skip_locked=True)  # rendered on PostgreSQL, ignored on SQLite
            )
            ids = list((await session.execute(candidates)).scalars())
            if not ids:
                return []
            claimed = await session.execute(
                update(OutboxJob)
                .where(OutboxJob.id.in_(ids), _claimable(now))
                .values(
                    status="running",
                    locked_by=self.worker_id,
                    locked_until=now + timedelta(seconds=self.settings.lease_seconds),
                    attempts=OutboxJob.attempts + 1,
                    updated_at=now,
                )
                .returning(
                    OutboxJob.id,
                    OutboxJob.kind,
                    OutboxJob.payload,
                    OutboxJob.attempts,
                    OutboxJob.max_attempts,
                    OutboxJob.dedup_key,
                )
                .execution_options(synchronize_session=False)
            )
            jobs = [
                Job(
                    id=row.id,
                    kind=row.kind,
                    payload=dict(row.payload or {}),
                    attempt=row.attempts,
                    # TGSHOP_WORKER_MAX_ATTEMPTS caps every job's own limit.
                    max_attempts=min(row.max_attempts, self.settings.max_attempts),
                    dedup_key=row.dedup_key,
                )
                for row in claimed
            ]
        jobs.sort(key=lambda job: job.id)
        return jobs

    # ------------------------------------------------------------------------- running

    def _start(self, job: Job) -> asyncio.Task[None]:
        task = asyncio.create_task(self._run_job(job), name=f"outbox-job-{job.id}")
        self._in_flight[task] = job
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Task[None]) -> None:
        job = self._in_flight.pop(task, None)
        if job is not None and not task.cancelled() and task.exception() is not None:
            log.error(
                "worker.job_crashed",
                job_id=job.id,
                kind=job.kind,
                error=describe_error(task.exception()),  # type: ignore[arg-type]
            )

    async def _run_job(self, job: Job) -> None:
        outcome = await self._execute(job)
        self._settled.add(job.id)
        # Shielded: once the handler has returned, cancellation (shutdown) must not stop the
        # outcome from being written, or the job would be released and sent again.
        write = asyncio.ensure_future(self._record(job, outcome))
        self._writes.add(write)
        write.add_done_callback(self._writes.discard)
        await asyncio.shield(write)

    async def _execute(self, job: Job) -> _Outcome:
        handler = self.handlers.get(job.kind)
        if handler is None:
            return _Outcome(PermanentJobError(f"no handler for job kind {job.kind!r}"))
        if job.attempt > job.max_attempts:
            # Claimed again after its last allowed run never reported back (lease expired).
            return _Outcome(
                PermanentJobError(
                    f"gave up: {job.max_attempts} attempt(s) used, the last one never finished "
                    "(its worker stopped without releasing the lease)"
                )
            )
        log.debug("job.started", job_id=job.id, kind=job.kind, attempt=job.attempt)
        try:
            async with asyncio.timeout(self.handler_timeout):
                await handler(job)
        except TimeoutError as exc:
            note = f"timed out after {self.handler_timeout:g}s"
            return _Outcome(exc, note)
        except Exception as exc:
            return _Outcome(exc)
        return _Outcome()

    async def _record(self, job: Job, outcome: _Outcome) -> None:
        # The outcome write is retried a few times: losing it means running the job again.
        for attempt in range(3):
            try:
                await self._write_outcome(job, outcome)
            except Exception as exc:
                if attempt == 2:
                    # The id stays in _settled: shutdown must not release a job whose handler
                    # has run (a sent message would be sent again at once); the lease decides.
                    log.error(
                        "job.outcome_not_saved",
                        job_id=job.id,
                        kind=job.kind,
                        error=describe_error(exc),
                        hint="the job stays locked and runs again after its lease",
                    )
                    return
                await asyncio.sleep(0.2 * 2**attempt)
            else:
                # Written: the row is no longer ours, a release could not match it anyway.
                self._settled.discard(job.id)
                return

    async def _write_outcome(self, job: Job, outcome: _Outcome) -> None:
        error = outcome.error
        if error is None:
            if await self._finish(job, status="done", last_error=None, finished=True):
                self.processed += 1
                log.info("job.done", job_id=job.id, kind=job.kind, attempt=job.attempt)
            return
        message = describe_error(error)
        if outcome.note:
            message = f"{outcome.note}: {message}"
        permanent = isinstance(error, PermanentJobError) or (
            isinstance(error, TelegramSendError) and error.permanent
        )
        if permanent or job.attempt >= job.max_attempts:
            if await self._finish(job, status="dead", last_error=message, finished=True):
                self.dead += 1
                log.error(
                    "job.dead",
                    job_id=job.id,
                    kind=job.kind,
                    attempt=job.attempt,
                    max_attempts=job.max_attempts,
                    permanent=permanent,
                    error=message,
                )
            return
        retry_after = error.retry_after if isinstance(error, TelegramSendError) else None
        delay = backoff_delay(
            job.attempt,
            base=self.settings.backoff_base,
            maximum=self.settings.backoff_max,
            retry_after=retry_after,
            jitter=self._jitter,
        )
        if await self._finish(job, status="pending", last_error=message, retry_in=delay):
            self.failed += 1
            log.warning(
                "job.retry",
                job_id=job.id,
                kind=job.kind,
                attempt=job.attempt,
                retry_in=round(delay, 3),
                error=message,
            )

    async def _finish(
        self,
        job: Job,
        *,
        status: str,
        last_error: str | None,
        finished: bool = False,
        retry_in: float | None = None,
    ) -> bool:
        """Write an outcome if this worker still holds the job; False when it lost it.

        ``finished`` stamps ``finished_at``; ``retry_in`` (seconds) sets ``run_after``. Both
        are measured from the moment the write holds its transaction.
        """
        async with self.db.transaction() as session:
            await session.connection()  # may wait for the writer lock (SQLite)
            now = self.clock.now()
            values: dict[str, Any] = {
                "status": status,
                "last_error": last_error,
                "locked_by": None,
                "locked_until": None,
                "updated_at": now,
            }
            if finished:
                values["finished_at"] = now
            if retry_in is not None:
                values["run_after"] = now + timedelta(seconds=retry_in)
            result = await session.execute(
                update(OutboxJob)
                .where(
                    OutboxJob.id == job.id,
                    OutboxJob.status == "running",
                    OutboxJob.locked_by == self.worker_id,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            log.warning(
                "job.lease_lost",
                job_id=job.id,
                kind=job.kind,
                worker_id=self.worker_id,
                hint="another worker reclaimed it after the lease expired",
            )
            return False
        return True

    # -------------------------------------------------------------------- periodic tasks

    async def _periodic_loop(self, task: _Periodic) -> None:
        """``run()``'s schedule for one task: at start, then ``interval`` seconds after each
        run ends (runs never overlap). Ends only when cancelled at shutdown."""
        while True:
            await self._run_periodic(task)
            await asyncio.sleep(task.interval)

    async def _run_due_periodic(self) -> None:
        """``run_once()``'s schedule: every task due by the clock, one after the other."""
        for task in self._periodic:
            now = self.clock.now()
            if task.next_due is not None and now < task.next_due:
                continue
            task.next_due = now + timedelta(seconds=task.interval)
            await self._run_periodic(task)

    async def _run_periodic(self, task: _Periodic) -> None:
        try:
            # Bounded like a handler, so a hung task cannot hold its connection for good.
            async with asyncio.timeout(self.handler_timeout):
                await task.func()
        except Exception as exc:  # one failing task must not stop the worker
            self.periodic_failures += 1
            log.error("worker.periodic_failed", task=task.name, error=describe_error(exc))

    @staticmethod
    async def _cancel_all(tasks: Sequence[asyncio.Task[None]]) -> None:
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    # ------------------------------------------------------------------------ shutdown

    async def _shutdown(self) -> None:
        """Give in-flight jobs the grace period, then cancel and release the rest."""
        tasks = set(self._in_flight)
        jobs = dict(self._in_flight)
        if tasks and self.settings.shutdown_grace > 0:
            log.info("worker.draining", in_flight=len(tasks), grace=self.settings.shutdown_grace)
            _, tasks = await asyncio.wait(tasks, timeout=self.settings.shutdown_grace)
        tasks = {task for task in tasks if not task.done()}
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)
        unfinished = [jobs[task] for task in tasks if jobs[task].id not in self._settled]
        unsaved = [jobs[task].id for task in tasks if jobs[task].id in self._settled]
        if unsaved:
            log.warning(
                "worker.left_to_lease",
                job_ids=unsaved,
                hint="their handlers ran but the outcome was not saved; not released",
            )
        if unfinished:
            await self._release(unfinished)

    async def _release(self, jobs: list[Job]) -> None:
        """Hand jobs back: pending, unlocked, and this interrupted run not counted."""
        async with self.db.transaction() as session:
            await session.connection()
            now = self.clock.now()
            result = await session.execute(
                update(OutboxJob)
                .where(
                    OutboxJob.id.in_([job.id for job in jobs]),
                    OutboxJob.status == "running",
                    OutboxJob.locked_by == self.worker_id,
                )
                .values(
                    status="pending",
                    locked_by=None,
                    locked_until=None,
                    attempts=OutboxJob.attempts - 1,
                    updated_at=now,
                )
                .execution_options(synchronize_session=False)
            )
        released = int(result.rowcount)  # type: ignore[attr-defined]
        self.released += released
        log.warning("worker.released_jobs", job_ids=[job.id for job in jobs], released=released)

    async def _abandon(self) -> None:
        """Hard stop (the run task was cancelled): cancel handlers, leave rows to the lease."""
        tasks = list(self._in_flight)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)
