"""Pure ASGI middleware around every HTTP request (no BaseHTTPMiddleware: it costs a task
and a memory stream per request).

:class:`SecurityHeadersMiddleware` (outermost) adds the security headers to every response,
including the 500 that :class:`RequestContextMiddleware` produces.

:class:`RequestContextMiddleware` gives each request an id (the caller's ``X-Request-ID``
when it is sane, else a fresh one), binds it into the log context so every log line of the
request carries it, returns it in the response, turns an unhandled exception into a generic
problem+json 500 (logging the traceback), counts and times the request by route template,
and writes one access log line.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable

import structlog
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tgshop.api.metrics import HttpMetrics
from tgshop.api.problems import unexpected_error

REQUEST_ID_HEADER = b"x-request-id"
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._-]{1,64}")
UNMATCHED_ROUTE = "<unmatched>"
# An ASGI status for "the client went away before we answered" (nginx uses the same).
CLIENT_CLOSED_REQUEST = 499

# Telegram clients embed the Mini App: the web versions in an iframe on web.telegram.org
# (/k/ and /a/) and older mirrors on other telegram.org hosts; the native apps use a webview
# that has no frame ancestor. CSP frame-ancestors replaces X-Frame-Options, which cannot
# list several origins — so no X-Frame-Options header is sent.
TELEGRAM_FRAME_ANCESTORS = "frame-ancestors 'self' https://web.telegram.org https://*.telegram.org"
PAGE_CSP = (
    "default-src 'self'; script-src 'self' https://telegram.org; img-src 'self' data: blob:; "
    "style-src 'self'; connect-src 'self'; base-uri 'self'; form-action 'self'; "
    + TELEGRAM_FRAME_ANCESTORS
)
# JSON and other non-page answers load nothing and are never framed.
API_CSP = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=63072000; includeSubDomains"


def request_id_from(headers: Iterable[tuple[bytes, bytes]]) -> str:
    """The caller's X-Request-ID when it is 1-64 characters of [A-Za-z0-9._-], else a new
    one (anything else could forge log lines or bloat them)."""
    for name, value in headers:
        if name == REQUEST_ID_HEADER:
            if _SANE_REQUEST_ID.fullmatch(value):
                return value.decode("ascii")
            break
    return os.urandom(16).hex()  # a uuid4().hex without the UUID object: a fifth of the cost


def route_template(scope: Scope, root_path: str) -> str:
    """The template of the route that answered (``/products/{product_id}``), with the
    prefix of any mount it sits under; ``<unmatched>`` when no route matched."""
    # Mounts extend root_path in place; the extension is the mount prefix.
    prefix = str(scope.get("root_path", ""))[len(root_path) :]
    route = scope.get("route")
    path_format: str | None = (
        None if isinstance(route, Mount) else getattr(route, "path_format", None)
    )
    if path_format:
        return prefix + path_format
    if prefix:  # answered by a mounted app (static files) that has no routes of its own
        return prefix + "/{path}"
    return UNMATCHED_ROUTE


class SecurityHeadersMiddleware:
    """nosniff, a referrer policy, a CSP (a page CSP that lets Telegram frame the Mini App
    for HTML, a deny-all one otherwise) and, in production, HSTS. Headers a route set
    itself are kept."""

    def __init__(self, app: ASGIApp, *, production: bool) -> None:
        self.app = app
        common = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"strict-origin-when-cross-origin"),
        ]
        if production:
            common.append((b"strict-transport-security", HSTS.encode()))
        self._page = [*common, (b"content-security-policy", PAGE_CSP.encode())]
        self._api = [*common, (b"content-security-policy", API_CSP.encode())]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                content_type = next((v for n, v in headers if n.lower() == b"content-type"), b"")
                extra = self._page if content_type.startswith(b"text/html") else self._api
                headers.extend(item for item in extra if item[0] not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self.access_log = structlog.get_logger("tgshop.access")
        self.error_log = structlog.get_logger("tgshop.api")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        request_id = request_id_from(scope["headers"])
        scope.setdefault("state", {})["request_id"] = request_id
        root_path = str(scope.get("root_path", ""))
        tokens = structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = CLIENT_CLOSED_REQUEST
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", ()),
                    (REQUEST_ID_HEADER, request_id.encode("ascii")),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            self.error_log.exception(
                "unhandled exception", method=scope["method"], path=scope["path"]
            )
            if response_started:  # too late for an error page; the server drops the connection
                raise
            await unexpected_error(scope["path"], request_id)(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            self.metrics.observe(scope["method"], route_template(scope, root_path), status, seconds)
            self.access_log.info(
                "request",
                method=scope["method"],
                path=scope["path"],
                status=status,
                duration_ms=round(seconds * 1000, 2),
            )
            structlog.contextvars.reset_contextvars(**tokens)
