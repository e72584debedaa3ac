"""The HTTP app factory.

:func:`create_http_app` builds a FastAPI app over a :class:`~tgshop.app.Container` and does
no I/O: no connection, no migration (``tgshop migrate`` / ``serve`` do that), no file read.
The container belongs to whoever built it (the CLI or a test), which also closes it; the
app's lifespan therefore opens and closes nothing.

The API reference (/docs, Swagger UI served from this process: FastAPI's own loads scripts
from a CDN, which the page CSP forbids and an offline demo cannot reach) and the OpenAPI
schema are served unless TGSHOP_API_DOCS=false. FastAPI's native OpenTelemetry
instrumentation is off unless TGSHOP_OPENTELEMETRY=true.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import structlog
from fastapi import APIRouter, FastAPI
from fastapi.telemetry import TelemetryConfig

from tgshop import __version__
from tgshop.api.docs import build_docs_router
from tgshop.api.health import build_health_router
from tgshop.api.metrics import build_metrics, build_metrics_router
from tgshop.api.middleware import RequestContextMiddleware, SecurityHeadersMiddleware
from tgshop.api.payment_webhooks import build_payment_webhook_router
from tgshop.api.problems import install_problem_handlers
from tgshop.api.storefront import build_storefront_router
from tgshop.api.v1 import install_api_v1

if TYPE_CHECKING:
    from tgshop.app import Container

# Readiness probes and scrapes run every few seconds; a dependency that needs longer than
# this to answer is as good as down, and the probe must answer before the prober gives up.
CHECK_TIMEOUT_SECONDS = 2.0
# FastAPI's native OpenTelemetry, switched off (TGSHOP_OPENTELEMETRY=false).
_NO_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}


def create_http_app(container: Container, *, routers: Sequence[APIRouter] = ()) -> FastAPI:
    """The HTTP app; ``routers`` adds front ends built elsewhere (the Telegram webhook)."""
    production = container.settings.app.is_production
    docs = container.settings.api.docs
    log = structlog.get_logger("tgshop.api")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        log.info("http app started", environment=container.settings.app.env.value)
        yield
        log.info("http app stopped")

    app = FastAPI(
        title="tgshop",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json" if docs else None,
        # Our figures are the Prometheus metrics and the access log; FastAPI's own
        # instrumentation is for a process whose operator set up an OpenTelemetry SDK.
        telemetry=None if container.settings.app.opentelemetry else _NO_TELEMETRY,
    )
    app.state.container = container
    metrics = build_metrics()
    app.state.metrics = metrics

    install_problem_handlers(app)
    # The Mini App API first: routes are matched in order, and it takes most of the traffic.
    install_api_v1(app, container)
    app.include_router(build_health_router(container, check_timeout=CHECK_TIMEOUT_SECONDS))
    app.include_router(build_metrics_router(container, metrics, db_timeout=CHECK_TIMEOUT_SECONDS))
    app.include_router(build_payment_webhook_router(container))
    app.include_router(build_storefront_router(container))
    if docs:
        app.include_router(build_docs_router())
    for router in routers:
        app.include_router(router)

    # add_middleware prepends: the last added is the outermost. Security headers wrap the
    # request context so they land on the 500 that the context middleware renders too.
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    app.add_middleware(SecurityHeadersMiddleware, production=production)
    return app
