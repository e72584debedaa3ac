"""Prometheus metrics of one HTTP app: request counts and latencies, outbox health.

Each app owns its :class:`CollectorRegistry` — never the process-wide default — so tests
(and a process that builds two apps) never collide on metric names.

Request metrics are labelled by route template (``/api/v1/products/{product_id}``), never by
raw path, so the number of series stays bounded whatever URLs clients invent. The outbox
figures are read from the database at scrape time: how many jobs wait, how long the most
overdue job has been runnable without being claimed (a growing age means side effects are
late — the worker is down or stuck; a job waiting out a retry backoff is not late) and how
many died after their last attempt.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import structlog
from fastapi import APIRouter
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from sqlalchemy import and_, case, func, select
from starlette.responses import Response

from tgshop.db.models import OutboxJob

if TYPE_CHECKING:
    from tgshop.app import Container
    from tgshop.db.engine import Database

# Seconds; an API answers in milliseconds, a slow page or webhook in a second or two.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Statuses that stay in the table and matter to an operator ("done" grows forever).
OUTBOX_STATUSES = ("pending", "running", "dead")


@dataclass(frozen=True)
class HttpMetrics:
    registry: CollectorRegistry
    requests: Counter
    latency: Histogram
    outbox_jobs: Gauge
    outbox_oldest_pending_age: Gauge
    outbox_scrape_ok: Gauge
    # The labelled children by (method, route, status): labels() costs more than the
    # increment and the observation together, and it would run on every request.
    _children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        children = self._children.get((method, route, status))
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
            self._children[(method, route, status)] = children
        children[0].inc()
        children[1].observe(seconds)


def build_metrics() -> HttpMetrics:
    registry = CollectorRegistry(auto_describe=True)
    return HttpMetrics(
        registry=registry,
        requests=Counter(
            "tgshop_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ("method", "route", "status"),
            registry=registry,
        ),
        latency=Histogram(
            "tgshop_http_request_duration_seconds",
            "Time from request to the end of the response, by method and route template.",
            ("method", "route"),
            buckets=LATENCY_BUCKETS,
            registry=registry,
        ),
        outbox_jobs=Gauge(
            "tgshop_outbox_jobs",
            "Outbox jobs by status: pending (waiting), running (claimed), dead (gave up).",
            ("status",),
            registry=registry,
        ),
        outbox_oldest_pending_age=Gauge(
            "tgshop_outbox_oldest_pending_age_seconds",
            "Seconds the most overdue pending outbox job has been due (now - run_after) without"
            " being claimed; jobs still waiting out a retry backoff are not counted (0 when none"
            " is due).",
            registry=registry,
        ),
        outbox_scrape_ok=Gauge(
            "tgshop_outbox_scrape_success",
            "1 when the outbox figures of this scrape were read from the database, else 0.",
            registry=registry,
        ),
    )


@dataclass(frozen=True)
class OutboxSnapshot:
    counts: dict[str, int]
    # The earliest run_after among pending jobs already due at the scrape: when the most
    # overdue job became runnable. None when no pending job is due.
    oldest_due: datetime | None


async def read_outbox(db: Database, now: datetime) -> OutboxSnapshot:
    """Counts by status and the earliest ``run_after`` of pending jobs due by ``now`` (one
    query). A job whose retry backoff has not ended is pending but not overdue."""
    due_since = case(
        (and_(OutboxJob.status == "pending", OutboxJob.run_after <= now), OutboxJob.run_after)
    )
    stmt = (
        select(OutboxJob.status, func.count(), func.min(due_since))
        .where(OutboxJob.status.in_(OUTBOX_STATUSES))
        .group_by(OutboxJob.status)
    )
    counts = dict.fromkeys(OUTBOX_STATUSES, 0)
    oldest: datetime | None = None
    async with db.read() as session:
        for status, count, first_due in (await session.execute(stmt)).all():
            counts[status] = int(count)
            if status == "pending":
                oldest = first_due
    return OutboxSnapshot(counts, oldest)


def build_metrics_router(
    container: Container, metrics: HttpMetrics, *, db_timeout: float
) -> APIRouter:
    log = structlog.get_logger("tgshop.metrics")
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def scrape() -> Response:
        now = container.clock.now()
        try:
            async with asyncio.timeout(db_timeout):
                snapshot = await read_outbox(container.db, now)
        except Exception as exc:
            # Request metrics are still worth serving when the database is down.
            first_line = next(iter(str(exc).splitlines()), "")
            log.warning("outbox metrics unavailable", error=f"{type(exc).__name__}: {first_line}")
            metrics.outbox_scrape_ok.set(0)
        else:
            for status, count in snapshot.counts.items():
                metrics.outbox_jobs.labels(status).set(count)
            age = 0.0
            if snapshot.oldest_due is not None:
                age = (now - snapshot.oldest_due).total_seconds()
            metrics.outbox_oldest_pending_age.set(max(age, 0.0))
            metrics.outbox_scrape_ok.set(1)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
