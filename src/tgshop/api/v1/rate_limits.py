"""Rate limits of the Mini App API, per address and per signed-in customer.

Rules:
- ``TGSHOP_API_RATE_LIMIT_IP`` counts every request to ``/api/v1`` by client address;
  ``TGSHOP_API_RATE_LIMIT_USER`` counts a signed-in customer's requests, whatever address
  they come from (the ``limits`` syntax: ``120/minute;15/second``; empty turns one off);
- over any limit: 429 problem+json with ``Retry-After``, the seconds until that window
  ends; nothing of the request is done;
- counters live in Redis when configured (shared by every replica), in process memory
  otherwise (tgshop/limits_storage.py); fixed windows, the cheapest check;
- if the counter store does not answer, the request goes through and a warning is logged:
  a rate limit protects the shop, it must not take the API down with Redis.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import structlog
from fastapi import Request
from limits import RateLimitItem, parse_many
from starlette.types import ASGIApp, Receive, Scope, Send

from tgshop.api.problems import PROBLEM_TYPE_PREFIX, ProblemResponse, problem
from tgshop.limits_storage import fixed_window_limiter

if TYPE_CHECKING:
    from tgshop.app import Container

log = structlog.get_logger("tgshop.api.rate_limits")


class TooManyRequests(Exception):
    def __init__(self, retry_after: int, scope: str) -> None:
        super().__init__(f"too many requests ({scope}): try again in {retry_after} s")
        self.retry_after = retry_after
        self.scope = scope


class ApiRateLimits:
    def __init__(self, container: Container) -> None:
        api = container.settings.api
        self._per = {
            "ip": sorted(parse_many(api.rate_limit_ip), key=lambda i: i.get_expiry())
            if api.rate_limit_ip
            else [],
            "user": sorted(parse_many(api.rate_limit_user), key=lambda i: i.get_expiry())
            if api.rate_limit_user
            else [],
        }
        self._limiter = fixed_window_limiter(container, "api")

    async def hit(self, scope: str, key: str) -> None:
        """Count one request of ``key`` (an address, a customer id); TooManyRequests when
        it is over a limit of ``scope``."""
        items: list[RateLimitItem] = self._per[scope]
        try:
            for item in items:
                if not await self._limiter.hit(item, scope, key):
                    stats = await self._limiter.get_window_stats(item, scope, key)
                    wait = max(1, math.ceil(stats.reset_time - time.time()))
                    raise TooManyRequests(wait, scope)
        except TooManyRequests:
            raise
        except Exception as exc:  # the counter store is unreachable: fail open
            log.warning(
                "api.rate_limit_unavailable",
                scope=scope,
                error=f"{type(exc).__name__}: {exc}",
                hint="the API is not rate limited until the storage answers again",
            )


def limits_of(request: Request) -> ApiRateLimits:
    limits: ApiRateLimits = request.app.state.api_limits
    return limits


class PerAddressLimit:
    """Pure ASGI middleware: every request under ``/api/v1`` counts for its address (a
    route that does not exist too), before any routing or dependency work is spent on it;
    over the limit it gets the 429 problem at once."""

    def __init__(self, app: ASGIApp, *, limits: ApiRateLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/v1/"):
            client = scope.get("client")
            try:
                await self.limits.hit("ip", client[0] if client else "unknown")
            except TooManyRequests as exc:
                request_id = scope.get("state", {}).get("request_id")
                await too_many_problem(scope["path"], request_id, exc)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def too_many_problem(path: str, request_id: str | None, exc: TooManyRequests) -> ProblemResponse:
    return problem(
        429,
        type_=PROBLEM_TYPE_PREFIX + "rate_limited",
        detail=f"Too many requests; try again in {exc.retry_after} s.",
        instance=path,
        request_id=request_id,
        headers={"Retry-After": str(exc.retry_after)},
        scope=exc.scope,
    )
