"""The API reference at ``/docs``: Swagger UI over our OpenAPI schema, served from this
process (the scripts come with the fastapi-offline package), so it works offline and under
the page CSP, which allows no CDN and no inline script.

``TGSHOP_API_DOCS=false`` turns off both ``/docs`` and ``/openapi.json``.
"""

from __future__ import annotations

import asyncio
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Response

from tgshop import __version__

_SHELL = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>tgshop API</title>
  <link rel="icon" href="/docs/assets/favicon.png">
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css?v={version}">
</head>
<body>
  <div id="swagger-ui"><p>Loading the API reference…</p></div>
  <script src="/docs/assets/swagger-ui-bundle.js?v={version}"></script>
  <script src="/docs/assets/docs.js?v={version}"></script>
</body>
</html>
"""
_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def _assets() -> dict[str, Path]:
    swagger = Path(str(files("fastapi_offline").joinpath("static")))
    ours = Path(str(files("tgshop").joinpath("web/docs")))
    named = {n: swagger / n for n in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png")}
    return named | {"docs.js": ours / "docs.js"}


def build_docs_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)
    assets = _assets()
    shell = _SHELL.replace("{version}", __version__)

    @router.get("/docs")
    async def docs() -> Response:
        return Response(shell, media_type="text/html", headers={"Cache-Control": "no-cache"})

    read: dict[str, bytes] = {}

    @router.get("/docs/assets/{name}")
    async def asset(name: str) -> Response:
        path = assets.get(name)
        if path is None:
            return Response("no such file", status_code=404, media_type="text/plain")
        if name not in read:  # read once, on first use: nothing is read while building
            read[name] = await asyncio.to_thread(path.read_bytes)
        headers = {"Cache-Control": "public, max-age=86400"}
        return Response(read[name], media_type=_TYPES[path.suffix], headers=headers)

    return router
