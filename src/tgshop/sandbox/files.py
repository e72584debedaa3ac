"""Files the bot sends: uploads, URLs and file_ids it got before."""

from __future__ import annotations

import io
import mimetypes
import secrets
from typing import Any

from PIL import Image, UnidentifiedImageError

from tgshop.sandbox.errors import bad_request
from tgshop.sandbox.params import Params, Upload
from tgshop.sandbox.state import BotState, StoredFile

MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024


def _new_ids(kind: str) -> tuple[str, str]:
    prefix = "AgAC" if kind == "photo" else "BQAC"
    return prefix + secrets.token_urlsafe(24), "AQAD" + secrets.token_urlsafe(8)


def _from_upload(kind: str, upload: Upload) -> StoredFile:
    limit = MAX_PHOTO_BYTES if kind == "photo" else MAX_DOCUMENT_BYTES
    if len(upload.data) > limit:
        raise bad_request("file is too big")
    file_id, unique = _new_ids(kind)
    width = height = None
    mime = (
        upload.content_type
        or mimetypes.guess_type(upload.filename)[0]
        or "application/octet-stream"
    )
    if kind == "photo":
        try:
            with Image.open(io.BytesIO(upload.data)) as image:
                width, height = image.size
                mime = Image.MIME.get(image.format or "", mime)
        except (UnidentifiedImageError, OSError):
            raise bad_request("IMAGE_PROCESS_FAILED") from None
    return StoredFile(
        file_id, unique, kind, upload.data, None, mime, upload.filename, width, height
    )


def resolve(bot: BotState, params: Params, name: str, kind: str, value: Any = None) -> StoredFile:
    """A file given as an upload (or attach://), a URL, or a file_id seen before."""
    value = params.raw(name) if value is None else value
    upload = params.uploads.get(name)
    if isinstance(value, str) and value.startswith("attach://"):
        upload = params.uploads.get(value.removeprefix("attach://"))
        if upload is None:
            raise bad_request(f'file "{value}" not found in the request')
    if upload is not None:
        stored = _from_upload(kind, upload)
    elif isinstance(value, str) and value.startswith(("http://", "https://")):
        file_id, unique = _new_ids(kind)
        name_part = value.rsplit("/", 1)[-1] or "file"
        mime = mimetypes.guess_type(name_part)[0] or (
            "image/jpeg" if kind == "photo" else "application/octet-stream"
        )
        stored = StoredFile(file_id, unique, kind, None, value, mime, name_part, 1280, 1280)
    elif isinstance(value, str) and value.removesuffix("_s") in bot.files:
        return bot.files[value.removesuffix("_s")]
    else:
        raise bad_request("wrong file identifier/HTTP URL specified")
    bot.files[stored.file_id] = stored
    return stored


def photo_sizes(stored: StoredFile) -> list[dict[str, Any]]:
    width, height = stored.width or 1280, stored.height or 1280
    small = max(width, height)
    scale = min(1.0, 90 / small)
    return [
        {
            "file_id": stored.file_id + "_s",
            "file_unique_id": stored.file_unique_id + "s",
            "width": max(1, round(width * scale)),
            "height": max(1, round(height * scale)),
            "file_size": max(1, stored.size // 10),
        },
        {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": width,
            "height": height,
            "file_size": stored.size,
        },
    ]


def document(stored: StoredFile) -> dict[str, Any]:
    data: dict[str, Any] = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "mime_type": stored.mime_type,
        "file_size": stored.size,
    }
    if stored.file_name:
        data["file_name"] = stored.file_name
    return data
