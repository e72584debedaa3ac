"""Answers a browser or a proxy may keep: an ETag over the body, and 304 when the client's
``If-None-Match`` names it (a comma-separated list, possibly with weak tags)."""

from __future__ import annotations

import hashlib

from fastapi import Request, Response


def weak_etag(body: bytes) -> str:
    return 'W/"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def cacheable(
    request: Request,
    body: bytes,
    etag: str,
    cache_control: str,
    media_type: str = "application/json",
) -> Response:
    """``body`` with its ETag and ``Cache-Control``; an empty 304 when the client has it."""
    headers = {"ETag": etag, "Cache-Control": cache_control}
    seen = request.headers.get("if-none-match")
    if seen and etag in {tag.strip() for tag in seen.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)
