"""The chat page at /sandbox: static HTML/CSS/JS shipped in the package (web/sandbox/).

The page sends its own Content-Security-Policy (the app's security middleware keeps a header
a route set): the shop's page policy plus ``frame-src`` for any http(s) origin, because the
page opens the bot's Mini App — wherever it is served — in a phone-sized frame.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parent.parent / "web" / "sandbox"
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
    "connect-src 'self'; frame-src 'self' http: https:; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'self'"
)


def ui_routes() -> list[BaseRoute]:
    async def index(request: Request) -> Response:
        return FileResponse(
            WEB_DIR / "index.html",
            media_type="text/html",
            headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"},
        )

    async def slash(request: Request) -> Response:
        return RedirectResponse("/sandbox/")

    return [
        Route("/sandbox", slash, methods=["GET"]),
        Route("/sandbox/", index, methods=["GET"]),
        Mount("/sandbox/static", StaticFiles(directory=WEB_DIR / "static"), name="sandbox-static"),
    ]
