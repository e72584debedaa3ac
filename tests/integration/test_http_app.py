"""The HTTP app's cross-cutting behaviour: health and readiness, metrics, request ids,
problem+json errors, security headers and logs — against a real container on SQLite and
PostgreSQL."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from fastapi import FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse
from opentelemetry import trace
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel
from sqlalchemy import update

from tests.support import databases
from tests.support.fakes import FrozenClock, RecordingTelegram
from tgshop.api.app import create_http_app
from tgshop.app import Container, build_container
from tgshop.config import Settings
from tgshop.db import migrate
from tgshop.db.engine import Database
from tgshop.db.models import OutboxJob
from tgshop.domain.errors import (
    EmptyCart,
    IllegalTransition,
    InvalidRequest,
    NotFound,
    OutOfStock,
    Shortage,
)
from tgshop.logging import configure_logging, reset_logging
from tgshop.services.outbox import enqueue

CLOSED_PORT_REDIS = "redis://127.0.0.1:1/0"
BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"

MakeSettings = Callable[..., Settings]


class OrderLine(BaseModel):
    variant_id: int
    quantity: int


class OrderBody(BaseModel):
    lines: list[OrderLine]


@asynccontextmanager
async def client_for(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def settings(make_settings: MakeSettings, db_url: str) -> Settings:
    return make_settings(database={"url": db_url})


@pytest.fixture
def container(
    settings: Settings, db: Database, clock: FrozenClock, telegram: RecordingTelegram
) -> Container:
    # The shared db fixture outlives the test: the container is deliberately not closed.
    return build_container(settings, db=db, clock=clock, telegram=telegram)


@pytest.fixture
async def client(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_http_app(container)) as http:
        yield http


@pytest.fixture
def log_lines(make_settings: MakeSettings) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """Route all logging to a buffer as JSON; return a function that parses the lines."""
    stream = io.StringIO()
    root_level = logging.getLogger().level
    configure_logging(make_settings(app={"log_format": "json"}).app, stream=stream)

    def lines() -> list[dict[str, Any]]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    yield lines
    reset_logging()
    logging.getLogger().setLevel(root_level)


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def sample_value(text: str, name: str, **labels: str) -> float | None:
    for sample_name, sample_labels, value in samples(text):
        if sample_name == name and all(sample_labels.get(k) == v for k, v in labels.items()):
            return value
    return None


# --- liveness and readiness ---------------------------------------------------------------


async def test_health_answers_without_touching_the_database(
    make_settings: MakeSettings, clock: FrozenClock
) -> None:
    # Nothing listens on port 1: any database access would fail.
    unreachable = "postgresql+asyncpg://postgres@127.0.0.1:1/nowhere"
    container = build_container(make_settings(database={"url": unreachable}), clock=clock)
    try:
        async with client_for(create_http_app(container)) as http:
            response = await http.get("/health")
    finally:
        await container.close()
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["cache-control"] == "no-store"


async def test_ready_when_database_is_migrated(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["migrations"]["ok"] is True
    assert "redis" not in body["checks"]  # not configured, not checked


async def test_ready_is_503_when_the_schema_is_behind_head(
    make_settings: MakeSettings, tmp_path: Path, clock: FrozenClock
) -> None:
    url = databases.sqlite_url(tmp_path, "behind.db")
    private = await databases.migrated(url)
    await migrate.downgrade(private, "base")
    container = build_container(make_settings(database={"url": url}), db=private, clock=clock)
    try:
        async with client_for(create_http_app(container)) as http:
            response = await http.get("/ready")
    finally:
        await container.close()
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] is True
    assert checks["migrations"]["ok"] is False
    assert migrate.head_revision() in checks["migrations"]["reason"]
    assert "tgshop migrate" in checks["migrations"]["reason"]


async def test_ready_is_503_quickly_when_the_database_is_unreachable(
    make_settings: MakeSettings, clock: FrozenClock
) -> None:
    url = "postgresql+asyncpg://postgres:hunter2secret@127.0.0.1:1/nowhere"
    container = build_container(make_settings(database={"url": url}), clock=clock)
    started = time.monotonic()
    try:
        async with client_for(create_http_app(container)) as http:
            response = await http.get("/ready")
    finally:
        await container.close()
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"]["ok"] is False
    assert checks["database"]["reason"]
    assert checks["migrations"] == {"ok": False, "reason": "database unreachable"}
    assert "hunter2secret" not in response.text


async def test_ready_is_503_when_configured_redis_is_unreachable(
    make_settings: MakeSettings,
    db_url: str,
    db: Database,
    clock: FrozenClock,
) -> None:
    settings = make_settings(database={"url": db_url}, redis={"url": CLOSED_PORT_REDIS})
    container = build_container(settings, db=db, clock=clock)
    assert container.redis is not None
    try:
        async with client_for(create_http_app(container)) as http:
            response = await http.get("/ready")
    finally:
        await container.redis.aclose()
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["redis"]["reason"]


async def test_ready_checks_the_local_redis(
    make_settings: MakeSettings, db_url: str, db: Database, clock: FrozenClock
) -> None:
    if reason := await databases.redis_unavailable_reason():
        if databases.in_ci():
            pytest.fail(f"{reason} — CI must run every test")
        pytest.skip(reason)
    settings = make_settings(database={"url": db_url}, redis={"url": databases.redis_url()})
    container = build_container(settings, db=db, clock=clock)
    assert container.redis is not None
    try:
        async with client_for(create_http_app(container)) as http:
            response = await http.get("/ready")
    finally:
        await container.redis.aclose()
    assert response.status_code == 200, response.text
    assert response.json()["checks"]["redis"]["ok"] is True


# --- metrics --------------------------------------------------------------------------------


async def test_metrics_count_requests_by_route_template(container: Container) -> None:
    app = create_http_app(container)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    async with client_for(app) as http:
        for item_id in (1, 2, 3):
            assert (await http.get(f"/items/{item_id}")).status_code == 200
        assert (await http.get("/no/such/page")).status_code == 404
        text = (await http.get("/metrics")).text

    requests = "tgshop_http_requests_total"
    assert sample_value(text, requests, method="GET", route="/items/{item_id}", status="200") == 3
    assert sample_value(text, requests, route="<unmatched>", status="404") == 1
    # Raw paths never become labels.
    assert all("/items/1" not in labels.values() for _, labels, _ in samples(text))
    latency_count = "tgshop_http_request_duration_seconds_count"
    assert sample_value(text, latency_count, method="GET", route="/items/{item_id}") == 3


async def test_metrics_registries_are_per_app(container: Container) -> None:
    first, second = create_http_app(container), create_http_app(container)
    async with client_for(first) as http:
        await http.get("/health")
    async with client_for(second) as http:
        text = (await http.get("/metrics")).text
    assert sample_value(text, "tgshop_http_requests_total", route="/health") is None


async def test_metrics_report_outbox_depth_age_and_dead_jobs(
    client: httpx.AsyncClient, db: Database, clock: FrozenClock
) -> None:
    start = clock.now()
    async with db.transaction() as session:
        # Retried jobs written long ago: one still waits out its backoff (not late at all),
        # the other became due 80 s after the start.
        old = start - timedelta(hours=1)
        await enqueue(session, "notify", {"n": 0}, now=old, run_after=start + timedelta(hours=1))
        await enqueue(session, "notify", {"n": 9}, now=old, run_after=start + timedelta(seconds=80))
        await enqueue(session, "notify", {"n": 1}, now=clock.now())
        clock.advance(seconds=30)
        await enqueue(session, "notify", {"n": 2}, now=clock.now())
        await enqueue(session, "notify", {"n": 3}, now=clock.now(), dedup_key="dead-one")
        await session.execute(
            update(OutboxJob).where(OutboxJob.dedup_key == "dead-one").values(status="dead")
        )
    clock.advance(seconds=60)

    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert sample_value(text, "tgshop_outbox_jobs", status="pending") == 4
    assert sample_value(text, "tgshop_outbox_jobs", status="dead") == 1
    assert sample_value(text, "tgshop_outbox_jobs", status="running") == 0
    # The most overdue job became due 90 seconds ago (by the container's clock); the age is
    # measured from run_after, not from when a retried job was first written.
    assert sample_value(text, "tgshop_outbox_oldest_pending_age_seconds") == 90
    assert sample_value(text, "tgshop_outbox_scrape_success") == 1


async def test_metrics_do_not_count_jobs_waiting_out_a_backoff_as_late(
    client: httpx.AsyncClient, db: Database, clock: FrozenClock
) -> None:
    async with db.transaction() as session:
        await enqueue(
            session, "notify", {}, now=clock.now(), run_after=clock.now() + timedelta(minutes=10)
        )
    clock.advance(minutes=5)
    text = (await client.get("/metrics")).text
    assert sample_value(text, "tgshop_outbox_jobs", status="pending") == 1
    assert sample_value(text, "tgshop_outbox_oldest_pending_age_seconds") == 0

    clock.advance(minutes=6)  # due for a minute now, and still not claimed
    text = (await client.get("/metrics")).text
    assert sample_value(text, "tgshop_outbox_oldest_pending_age_seconds") == 60


async def test_metrics_report_zero_age_when_nothing_waits(client: httpx.AsyncClient) -> None:
    text = (await client.get("/metrics")).text
    assert sample_value(text, "tgshop_outbox_jobs", status="pending") == 0
    assert sample_value(text, "tgshop_outbox_oldest_pending_age_seconds") == 0


# --- request ids ----------------------------------------------------------------------------


async def test_a_sane_request_id_is_echoed(client: httpx.AsyncClient) -> None:
    response = await client.get("/health", headers={"X-Request-ID": "abc-123_X.y"})
    assert response.headers["x-request-id"] == "abc-123_X.y"


@pytest.mark.parametrize(
    "incoming",
    [None, "", "a" * 65, "has space", "new\\nline", "semi;colon", "ünïcode"],
)
async def test_a_missing_or_insane_request_id_is_replaced(
    client: httpx.AsyncClient, incoming: str | None
) -> None:
    headers = {} if incoming is None else {"X-Request-ID": incoming.encode()}
    response = await client.get("/health", headers=headers)
    generated = response.headers["x-request-id"]
    assert generated != incoming
    assert len(generated) == 32
    assert generated.isalnum()


async def test_every_request_gets_its_own_id(client: httpx.AsyncClient) -> None:
    ids = {(await client.get("/health")).headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


# --- problem+json ---------------------------------------------------------------------------


def problem_of(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code
    assert body["request_id"] == response.headers["x-request-id"]
    return body


async def test_unknown_route_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/no/such/page?token=abc")
    assert response.status_code == 404
    body = problem_of(response)
    assert body["type"] == "about:blank"
    assert body["title"] == "Not Found"
    assert body["instance"] == "/no/such/page"  # never the query string


async def test_wrong_method_keeps_the_allow_header(client: httpx.AsyncClient) -> None:
    response = await client.post("/health")
    assert response.status_code == 405
    assert problem_of(response)["title"] == "Method Not Allowed"
    assert "GET" in response.headers["allow"]


async def test_http_exception_keeps_its_detail(container: Container) -> None:
    app = create_http_app(container)

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPException(status_code=418, detail="short and stout")

    async with client_for(app) as http:
        response = await http.get("/teapot")
    assert response.status_code == 418
    assert problem_of(response)["detail"] == "short and stout"


async def test_validation_errors_name_every_wrong_field(container: Container) -> None:
    app = create_http_app(container)

    @app.get("/items/{item_id}")
    async def item(item_id: int, limit: int = Query(10, le=100)) -> dict[str, int]:
        return {"id": item_id, "limit": limit}

    async with client_for(app) as http:
        response = await http.get("/items/abc?limit=1000")
    assert response.status_code == 422
    body = problem_of(response)
    fields = {error["field"] for error in body["errors"]}
    assert fields == {"path.item_id", "query.limit"}
    assert "path.item_id" in body["detail"]
    assert "query.limit" in body["detail"]
    assert "abc" not in json.dumps(body["errors"])  # the input is not echoed


async def test_validation_errors_of_nested_bodies_have_readable_paths(
    container: Container,
) -> None:
    app = create_http_app(container)

    @app.post("/orders")
    async def place(body: OrderBody) -> dict[str, int]:
        return {"lines": len(body.lines)}

    async with client_for(app) as http:
        response = await http.post(
            "/orders", json={"lines": [{"variant_id": 1, "quantity": 1}, {"variant_id": 2}]}
        )
    assert response.status_code == 422
    assert [e["field"] for e in problem_of(response)["errors"]] == ["body.lines[1].quantity"]


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (NotFound("product 7 does not exist"), 404, "not_found"),
        (InvalidRequest("quantity must be at least 1"), 400, "invalid_request"),
        (EmptyCart("the cart is empty"), 400, "empty_cart"),
        (IllegalTransition("cannot ship a cancelled order"), 409, "illegal_transition"),
    ],
)
async def test_domain_errors_map_to_statuses(
    container: Container, error: Exception, status: int, code: str
) -> None:
    app = create_http_app(container)

    @app.get("/refuse")
    async def refuse() -> None:
        raise error

    async with client_for(app) as http:
        response = await http.get("/refuse")
    assert response.status_code == status
    body = problem_of(response)
    assert body["code"] == code
    assert body["type"] == f"urn:tgshop:problem:{code}"
    assert body["detail"] == str(error)


async def test_out_of_stock_lists_every_shortage(container: Container) -> None:
    app = create_http_app(container)
    shortages = [Shortage(1, "Sencha 100 g", 3, 1), Shortage(2, "Matcha 50 g", 2, 0)]

    @app.post("/checkout")
    async def checkout() -> None:
        raise OutOfStock(shortages)

    async with client_for(app) as http:
        response = await http.post("/checkout")
    assert response.status_code == 409
    body = problem_of(response)
    assert body["code"] == "out_of_stock"
    assert body["shortages"] == [
        {"variant_id": 1, "title": "Sencha 100 g", "requested": 3, "available": 1},
        {"variant_id": 2, "title": "Matcha 50 g", "requested": 2, "available": 0},
    ]


async def test_unhandled_exception_is_a_generic_500_and_logged_with_its_traceback(
    container: Container, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    app = create_http_app(container)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("connection to db with password hunter2 lost")

    async with client_for(app) as http:
        response = await http.get("/boom", headers={"X-Request-ID": "req-500"})

    assert response.status_code == 500
    body = problem_of(response)
    assert body["error_id"] == body["request_id"] == "req-500"
    assert "hunter2" not in response.text
    assert "RuntimeError" not in response.text
    assert "Traceback" not in response.text
    # The 500 carries the same headers as any other answer.
    assert response.headers["x-content-type-options"] == "nosniff"

    errors = [line for line in log_lines() if line["event"] == "unhandled exception"]
    assert len(errors) == 1
    assert errors[0]["request_id"] == "req-500"
    assert errors[0]["level"] == "error"
    assert "Traceback" in errors[0]["exception"]
    assert "RuntimeError" in errors[0]["exception"]
    access = [line for line in log_lines() if line["event"] == "request"]
    assert access[-1]["status"] == 500


# --- security headers -----------------------------------------------------------------------


async def test_json_answers_get_strict_security_headers(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert response.headers["content-security-policy"] == (
        "default-src 'none'; frame-ancestors 'none'"
    )
    assert "x-frame-options" not in response.headers
    assert "strict-transport-security" not in response.headers  # development


async def test_pages_get_a_csp_that_lets_telegram_frame_them(container: Container) -> None:
    app = create_http_app(container)

    @app.get("/shop", response_class=HTMLResponse)
    async def shop() -> str:
        return "<!doctype html><title>shop</title>"

    async with client_for(app) as http:
        response = await http.get("/shop")
    csp = response.headers["content-security-policy"]
    directives = {part.strip().split(" ", 1)[0]: part.strip() for part in csp.split(";")}
    assert directives["default-src"] == "default-src 'self'"
    assert directives["script-src"] == "script-src 'self' https://telegram.org"
    assert directives["img-src"] == "img-src 'self' data: blob:"
    assert directives["frame-ancestors"] == (
        "frame-ancestors 'self' https://web.telegram.org https://*.telegram.org"
    )
    assert "x-frame-options" not in response.headers


async def test_a_route_may_set_its_own_csp(container: Container) -> None:
    app = create_http_app(container)

    @app.get("/custom", response_class=HTMLResponse)
    async def custom() -> HTMLResponse:
        return HTMLResponse("<p>hi</p>", headers={"Content-Security-Policy": "default-src 'none'"})

    async with client_for(app) as http:
        response = await http.get("/custom")
    assert response.headers.get_list("content-security-policy") == ["default-src 'none'"]


async def test_hsts_only_in_production(
    make_settings: MakeSettings, db_url: str, db: Database, clock: FrozenClock
) -> None:
    settings = make_settings(
        database={"url": db_url}, app={"env": "production"}, api={"docs": False}
    )
    app = create_http_app(build_container(settings, db=db, clock=clock))
    async with client_for(app) as http:
        health = await http.get("/health")
        missing = await http.get("/missing")
        schema = await http.get("/openapi.json")
        docs = await http.get("/docs")
    for response in (health, missing):
        assert response.headers["strict-transport-security"] == (
            "max-age=63072000; includeSubDomains"
        )
        assert response.headers["x-content-type-options"] == "nosniff"
    assert schema.status_code == docs.status_code == 404  # TGSHOP_API_DOCS=false


# --- OpenTelemetry --------------------------------------------------------------------------


class RecordingTracerProvider(trace.TracerProvider):
    """What an OpenTelemetry SDK set up in the process would be, reduced to the span names."""

    def __init__(self) -> None:
        self.spans: list[str] = []

    def get_tracer(self, *_args: Any, **_kwargs: Any) -> trace.Tracer:
        return RecordingTracer(self.spans)


class RecordingTracer(trace.NoOpTracer):
    def __init__(self, spans: list[str]) -> None:
        self.spans = spans

    def start_span(self, name: str, *args: Any, **kwargs: Any) -> trace.Span:
        self.spans.append(name)
        return super().start_span(name, *args, **kwargs)


@pytest.mark.parametrize("enabled", [False, True])
async def test_fastapi_reports_to_an_opentelemetry_sdk_only_when_asked(
    make_settings: MakeSettings,
    db_url: str,
    db: Database,
    clock: FrozenClock,
    telegram: RecordingTelegram,
    monkeypatch: pytest.MonkeyPatch,
    enabled: bool,
) -> None:
    provider = RecordingTracerProvider()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    settings = make_settings(database={"url": db_url}, app={"opentelemetry": enabled})
    container = build_container(settings, db=db, clock=clock, telegram=telegram)
    async with client_for(create_http_app(container)) as http:
        assert (await http.get("/health")).status_code == 200
    if enabled:  # the request's server span (named later), then FastAPI's own steps
        assert provider.spans[0] == "GET" and "fastapi.endpoint" in provider.spans
    else:
        assert provider.spans == []


# --- logs -----------------------------------------------------------------------------------


async def test_one_access_line_per_request_with_the_request_id(
    client: httpx.AsyncClient, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    await client.get("/health?secret=abc", headers={"X-Request-ID": "trace-me"})
    access = [line for line in log_lines() if line.get("logger") == "tgshop.access"]
    assert len(access) == 1
    line = access[0]
    assert line["event"] == "request"
    assert line["method"] == "GET"
    assert line["path"] == "/health"  # no query string: it may carry credentials
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float)
    assert line["request_id"] == "trace-me"
    assert line["level"] == "info"
    assert "timestamp" in line


async def test_every_log_line_of_a_request_carries_its_id_and_no_secret(
    container: Container, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    app = create_http_app(container)

    @app.get("/work")
    async def work() -> dict[str, str]:
        structlog.get_logger("tgshop.test").info(
            "calling telegram",
            url=f"https://api.telegram.org/bot{BOT_TOKEN}/sendMessage",
            bot_token=BOT_TOKEN,
            headers={"Authorization": "Bearer sk-live-123"},
        )
        logging.getLogger("aiogram.event").warning("stdlib says %s", BOT_TOKEN)
        return {"ok": "yes"}

    async with client_for(app) as http:
        response = await http.get("/work", headers={"X-Request-ID": "rid-42"})
    assert response.status_code == 200

    lines = [line for line in log_lines() if line.get("request_id") == "rid-42"]
    events = {line["event"] for line in lines}
    assert {"calling telegram", "request"} <= events
    assert any(event.startswith("stdlib says") for event in events)  # stdlib is routed too
    everything = json.dumps(log_lines())
    assert BOT_TOKEN.split(":")[1] not in everything
    assert "sk-live-123" not in everything
    structlog_line = next(line for line in lines if line["event"] == "calling telegram")
    assert structlog_line["bot_token"] == "[REDACTED]"
    assert structlog_line["headers"] == {"Authorization": "[REDACTED]"}
    assert "123456789:[REDACTED]" in structlog_line["url"]


async def test_request_context_does_not_leak_into_later_logs(
    client: httpx.AsyncClient, log_lines: Callable[[], list[dict[str, Any]]]
) -> None:
    await client.get("/health", headers={"X-Request-ID": "gone-after"})
    structlog.get_logger("tgshop.test").info("after the request")
    after = next(line for line in log_lines() if line["event"] == "after the request")
    assert "request_id" not in after
