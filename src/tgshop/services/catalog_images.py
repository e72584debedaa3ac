"""Product image files named by a catalog: found, checked, hashed and read.

Rules:
- A reference is a path relative to the catalog file's directory (an absolute path is used
  as is). The stored file name is the reference's last component.
- Only JPEG, PNG, WEBP and GIF are accepted — what Telegram shows as a photo — at most
  10 MB, with width + height at most 10000 and a side ratio at most 20 (Telegram's photo
  limits), so every image imported can later be sent.
- Images are identified by the SHA-256 of their bytes: an unchanged image keeps its row and
  its cached Telegram file_id.

Blocking file I/O and decoding: call these through ``asyncio.to_thread``.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_WIDTH_PLUS_HEIGHT = 10_000
MAX_SIDE_RATIO = 20
ACCEPTED_FORMATS = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "GIF": "image/gif",
}
_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


class ImageProblem(ValueError):
    """Why an image file cannot be used (the message names the file)."""


@dataclass(frozen=True)
class ImageInfo:
    """What the database stores about an image, except its bytes (read again when written)."""

    path: Path
    file_name: str
    mime: str
    size: int
    sha256: str
    width: int
    height: int


def resolve(base_dir: Path, ref: str) -> Path:
    return (base_dir / ref).resolve()


def _read(path: Path) -> bytes:
    if not path.exists():
        raise ImageProblem(f"file not found: {path}")
    if not path.is_file():
        raise ImageProblem(f"not a file: {path}")
    size = path.stat().st_size
    if size == 0:
        raise ImageProblem(f"empty file: {path}")
    if size > MAX_IMAGE_BYTES:
        raise ImageProblem(
            f"too large: {path} is {size / 1024 / 1024:.1f} MB; at most "
            f"{MAX_IMAGE_BYTES // 1024 // 1024} MB"
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ImageProblem(f"cannot read {path}: {exc.strerror or exc}") from None


def inspect_image(base_dir: Path, ref: str) -> ImageInfo:
    """Check one image file; raise :class:`ImageProblem` saying what is wrong with it."""
    path = resolve(base_dir, ref)
    data = _read(path)
    try:
        with warnings.catch_warnings():
            # A decompression-bomb warning becomes an error: such a file is refused.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                fmt = image.format or ""
                width, height = image.size
                image.verify()
    except Exception:  # Pillow raises many exception types for a bad file
        raise ImageProblem(f"not an image (or a damaged one): {path}") from None
    if fmt not in ACCEPTED_FORMATS:
        raise ImageProblem(f"unsupported image format {fmt} in {path}; use JPEG, PNG, WEBP or GIF")
    if width + height > MAX_WIDTH_PLUS_HEIGHT:
        raise ImageProblem(
            f"too big: {path} is {width}x{height}; width + height must be at most "
            f"{MAX_WIDTH_PLUS_HEIGHT}"
        )
    if max(width, height) > MAX_SIDE_RATIO * min(width, height):
        raise ImageProblem(
            f"too narrow: {path} is {width}x{height}; sides may differ at most {MAX_SIDE_RATIO}x"
        )
    return ImageInfo(
        path=path,
        file_name=_stored_name(path),
        mime=ACCEPTED_FORMATS[fmt],
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        width=width,
        height=height,
    )


def _stored_name(path: Path) -> str:
    # Media.file_name holds 256 characters; keep the extension of a longer name.
    name = path.name
    return name if len(name) <= 256 else name[: 256 - len(path.suffix)] + path.suffix


def read_checked(info: ImageInfo) -> bytes:
    """Read an inspected image again; refuse it if it changed since it was inspected."""
    data = _read(info.path)
    if hashlib.sha256(data).hexdigest() != info.sha256:
        raise ImageProblem(f"changed while the catalog was being imported: {info.path}")
    return data


def safe_file_name(name: str, fallback: str) -> str:
    """A file name safe to write on any file system, stable when applied twice."""
    cleaned = _UNSAFE_NAME_CHARS.sub("_", name).lstrip(".")
    return cleaned[:128] or fallback
