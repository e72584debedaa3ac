"""The chat page at /sandbox: static HTML/CSS/JS shipped in the package (web/sandbox/)."""

from __future__ import annotations

from pathlib import Path

from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

WEB_DIR = Path(__file__).resolve().parent.parent / "web" / "sandbox"


def ui_routes() -> list[BaseRoute]:
    async def index(request: object) -> Response:
        return FileResponse(WEB_DIR / "index.html", media_type="text/html")

    async def slash(request: object) -> Response:
        return RedirectResponse("/sandbox/")

    return [
        Route("/sandbox", slash, methods=["GET"]),
        Route("/sandbox/", index, methods=["GET"]),
        Mount("/sandbox/static", StaticFiles(directory=WEB_DIR), name="sandbox-static"),
    ]
