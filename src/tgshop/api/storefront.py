"""The Mini App pages (``/app``): plain HTML, CSS and ES modules from ``web/app``, no build.

- ``/app`` is the page shell. It names its assets under a content-hash path
  (``/app/assets/<version>/...``), so the assets may be cached for a year while a new release
  is fetched at once; the shell itself is ``no-cache``. Outside production the files are
  re-read on every shell request (the assets it names come from that reading), so an edit
  shows on reload.
- Telegram's own ``telegram-web-app.js`` is the only outside script, and only when the shop
  talks to the real Telegram: against the sandbox (the demo, the tests) the page speaks the
  same postMessage protocol to the sandbox's frame itself, so nothing leaves the machine.
- ``/app/texts/<lang>.json`` carries the page's words from the message catalogs (``app.*``
  and the order status names), so the pages speak every language the bot speaks.
"""

from __future__ import annotations

import hashlib
import html
import json
import mimetypes
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from fastapi import Path as PathParam

from tgshop.api.caching import cacheable, weak_etag
from tgshop.config import DEFAULT_TELEGRAM_API_URL

if TYPE_CHECKING:
    from tgshop.app import Container

TELEGRAM_SCRIPT = '<script src="https://telegram.org/js/telegram-web-app.js"></script>'
TEXT_PREFIXES = ("app.", "order.status.")
YEAR = 365 * 24 * 3600
_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


@dataclass(frozen=True)
class Bundle:
    """The page's files as one versioned set."""

    version: str
    assets: dict[str, Asset]
    shell: str


def read_bundle(root: Path) -> Bundle:
    """Every file under ``root``; the version is a hash over all of them."""
    digest = hashlib.sha256()
    assets: dict[str, Asset] = {}
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.relative_to(root).as_posix()
        body = path.read_bytes()
        digest.update(name.encode() + b"\0" + body)
        kind = (
            _TYPES.get(path.suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        )
        etag = '"' + hashlib.sha256(body).hexdigest()[:24] + '"'
        assets[name] = Asset(body, kind, etag)
    shell = assets.pop("index.html").body.decode()
    return Bundle(digest.hexdigest()[:12], assets, shell)


def build_storefront_router(container: Container) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    settings = container.settings
    production = settings.app.is_production
    real_telegram = settings.telegram.telegram_api_url == DEFAULT_TELEGRAM_API_URL
    root = Path(str(files("tgshop").joinpath("web/app")))
    loaded: list[Bundle] = []

    def bundle(*, fresh: bool = False) -> Bundle:
        """The files as last read; ``fresh`` re-reads them outside production."""
        if not loaded or (fresh and not production):
            loaded[:] = [read_bundle(root)]
        return loaded[0]

    @router.get("/app")
    @router.get("/app/")
    async def shell() -> Response:
        current = bundle(fresh=True)
        page = (
            current.shell.replace("%ASSETS%", f"/app/assets/{current.version}")
            .replace("%TELEGRAM_SCRIPT%", TELEGRAM_SCRIPT if real_telegram else "")
            .replace("%SHOP_NAME%", html.escape(settings.shop.name, quote=False))
        )
        return Response(page, media_type="text/html", headers={"Cache-Control": "no-cache"})

    @router.get("/app/assets/{version}/{name:path}")
    async def asset(request: Request, version: str, name: str) -> Response:
        current = bundle()
        found = current.assets.get(name)
        if found is None:
            return Response("no such file", status_code=404, media_type="text/plain")
        # An old shell asking for an old version still gets today's file, just not for a year.
        immutable = production and version == current.version
        cache = f"public, max-age={YEAR}, immutable" if immutable else "no-cache"
        return cacheable(request, found.body, found.etag, cache, found.media_type)

    @router.get("/app/texts/{lang}.json")
    async def texts(
        request: Request, lang: str = PathParam(pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z]{2,4})?$")
    ) -> Response:
        words = container.translator.get(lang).starting_with(*TEXT_PREFIXES)
        body = json.dumps(words, ensure_ascii=False, sort_keys=True).encode()
        return cacheable(request, body, weak_etag(body), "public, max-age=300")

    return router
