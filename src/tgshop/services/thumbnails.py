"""Product images resized for the storefront, made once and kept in memory.

Rules:
- Only the widths in :data:`THUMBNAIL_WIDTHS` are made; any other width asked for is served
  at the next one up (so nobody can fill the memory by asking for every width from 1 to
  10000), and an image is never enlarged: one narrower than the width is served as stored.
- A thumbnail keeps the picture's proportions and is WebP (it keeps transparency and is the
  smallest the Telegram webviews show), or PNG/JPEG where Pillow was built without WebP.
  An animated GIF becomes its first frame.
- A stored image never changes under its id (a changed picture is a new row), so a
  thumbnail is keyed by image id and width and stays valid; the memory holds at most
  ``max_bytes`` of them, least recently used going first.

Decoding and encoding run in a worker thread: they hold the event loop otherwise.
"""

from __future__ import annotations

import asyncio
import io
from collections import OrderedDict
from dataclasses import dataclass
from typing import cast

from PIL import Image, ImageOps, features

from tgshop.services.catalog import CatalogService

THUMBNAIL_WIDTHS = (160, 320, 640, 1280)
DEFAULT_CACHE_BYTES = 32 * 1024 * 1024
_WEBP = features.check("webp")


@dataclass(frozen=True)
class Picture:
    mime: str
    data: bytes


def thumbnail_width(asked: int) -> int:
    """The width actually made for ``asked`` (the next size up, at most the largest)."""
    return next((w for w in THUMBNAIL_WIDTHS if w >= asked), THUMBNAIL_WIDTHS[-1])


def resize(data: bytes, mime: str, width: int) -> Picture:
    """``data`` no wider than ``width`` (see module rules). Blocking: run in a thread."""
    with Image.open(io.BytesIO(data)) as opened:
        if opened.width <= width:
            return Picture(mime, data)
        opened.seek(0)
        image = ImageOps.exif_transpose(opened.convert("RGBA"))
    height = max(1, round(image.height * width / image.width))
    small = image.resize((width, height), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if _WEBP:
        small.save(out, "WEBP", quality=80, method=4)
        return Picture("image/webp", out.getvalue())
    lowest_alpha = cast("tuple[float, float]", small.getchannel("A").getextrema())[0]
    if lowest_alpha < 255:  # some transparency: PNG keeps it
        small.save(out, "PNG", optimize=True)
        return Picture("image/png", out.getvalue())
    small.convert("RGB").save(out, "JPEG", quality=82, optimize=True, progressive=True)
    return Picture("image/jpeg", out.getvalue())


class Thumbnails:
    def __init__(self, catalog: CatalogService, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self._catalog = catalog
        self._max_bytes = max_bytes
        self._kept: OrderedDict[tuple[int, int], Picture] = OrderedDict()
        self._bytes = 0
        self._making: dict[tuple[int, int], asyncio.Future[Picture]] = {}

    async def get(self, media_id: int, asked_width: int) -> Picture:
        """Image ``media_id`` at most ``asked_width`` wide (NotFound for an unknown image).
        Several requests for one thumbnail at once make it once."""
        key = (media_id, thumbnail_width(asked_width))
        kept = self._kept.get(key)
        if kept is not None:
            self._kept.move_to_end(key)
            return kept
        making = self._making.get(key)
        if making is not None:
            return await asyncio.shield(making)
        future: asyncio.Future[Picture] = asyncio.get_running_loop().create_future()
        self._making[key] = future
        try:
            mime, data = await self._catalog.media(media_id)
            picture = await asyncio.to_thread(resize, data, mime, key[1])
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: a failure nobody else awaited is not logged twice
            raise
        finally:
            self._making.pop(key, None)
        future.set_result(picture)
        self._keep(key, picture)
        return picture

    def _keep(self, key: tuple[int, int], picture: Picture) -> None:
        if len(picture.data) > self._max_bytes:
            return
        self._kept[key] = picture
        self._bytes += len(picture.data)
        while self._bytes > self._max_bytes:
            _, dropped = self._kept.popitem(last=False)
            self._bytes -= len(dropped.data)
