"""The Mini App API, version 1: the shop's catalog, cart and orders for a storefront that
runs inside Telegram (or elsewhere, with CORS), on the same use cases as the bot."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware

from tgshop.api.problems import PROBLEM_TYPE_PREFIX, ProblemResponse, problem, request_id_of
from tgshop.api.v1.auth import TMA_SCHEME, CheckedLaunches, Forbidden, Unauthorized
from tgshop.api.v1.buying import build_buying_routes
from tgshop.api.v1.rate_limits import (
    ApiRateLimits,
    PerAddressLimit,
    TooManyRequests,
    too_many_problem,
)
from tgshop.api.v1.routes import build_api_v1

if TYPE_CHECKING:
    from tgshop.app import Container

__all__ = ["install_api_v1"]


def install_api_v1(app: FastAPI, container: Container) -> None:
    """The routes, their error answers and, when origins are configured, CORS."""
    app.state.api_limits = limits = ApiRateLimits(container)
    app.state.checked_launches = CheckedLaunches()
    _document_sign_in(app)
    app.include_router(build_api_v1(container))
    app.include_router(build_buying_routes(container))
    app.add_exception_handler(Unauthorized, _unauthorized)  # type: ignore[arg-type]
    app.add_exception_handler(TooManyRequests, _too_many)  # type: ignore[arg-type]
    app.add_exception_handler(Forbidden, _forbidden)  # type: ignore[arg-type]
    app.add_middleware(PerAddressLimit, limits=limits)
    origins = container.settings.api.cors_origins
    if origins:  # closed by default: same origin only
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "PUT", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match"],
            expose_headers=["ETag", "Retry-After"],
            max_age=600,
        )


def _document_sign_in(app: FastAPI) -> None:
    """Put the ``tma`` scheme that signed-in routes name (``SIGNED_IN``) into the schema."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {}).setdefault("securitySchemes", {})["tma"] = (
                TMA_SCHEME
            )
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]


async def _unauthorized(request: Request, exc: Unauthorized) -> ProblemResponse:
    return problem(
        401,
        title="Not signed in",
        type_=PROBLEM_TYPE_PREFIX + "unauthorized",
        detail=exc.detail,
        instance=request.url.path,
        request_id=request_id_of(request),
        headers={"WWW-Authenticate": "tma", "Cache-Control": "no-store"},
        reason=exc.reason,
    )


async def _too_many(request: Request, exc: TooManyRequests) -> ProblemResponse:
    return too_many_problem(request.url.path, request_id_of(request), exc)


async def _forbidden(request: Request, exc: Forbidden) -> ProblemResponse:
    return problem(
        403,
        type_=PROBLEM_TYPE_PREFIX + "blocked",
        detail=str(exc),
        instance=request.url.path,
        request_id=request_id_of(request),
    )
