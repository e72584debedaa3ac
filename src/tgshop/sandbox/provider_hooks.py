"""Notifications the fake payment providers (CryptoBot, YooKassa) POST to a shop.

Rules: one attempt, then up to ``len(RETRY_PAUSES)`` retries after short pauses while the
receiver answers non-2xx or cannot be reached; each attempt waits at most ``TIMEOUT``
seconds. The caller (a control route) awaits the whole delivery and reports the final
attempt, so a test knows what the shop answered. The real services retry for a day or more
(CryptoBot: 17 attempts over 3 days; YooKassa: 24 hours); a test wants an answer now.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

RETRY_PAUSES = (0.2, 0.5)
TIMEOUT = 5.0


def iso_time(timestamp: float) -> str:
    """ISO 8601 in UTC with milliseconds and a ``Z``, as both providers write times."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class HookResult:
    """How a delivery ended: the receiver's last HTTP status, or why there was none."""

    status: int | None = None
    error: str | None = None
    attempts: int = 0

    def to_api(self) -> dict[str, Any]:
        return {"status": self.status, "error": self.error, "attempts": self.attempts}


class ProviderHooks:
    """One HTTP client for every provider notification (closed with the sandbox)."""

    def __init__(self) -> None:
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        # Created on first use: a Sandbox may be built outside a running event loop.
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False)
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def deliver(self, url: str, body: bytes, headers: dict[str, str]) -> HookResult:
        result = HookResult()
        for attempt, pause in enumerate((0.0, *RETRY_PAUSES), start=1):
            if pause:
                await asyncio.sleep(pause)
            result = await self._attempt(url, body, headers, attempt)
            if result.error is None:
                break
        return result

    async def _attempt(
        self, url: str, body: bytes, headers: dict[str, str], attempt: int
    ) -> HookResult:
        try:
            response = await self._http().post(
                url, content=body, headers={"Content-Type": "application/json", **headers}
            )
        except httpx.HTTPError as exc:
            return HookResult(None, f"connection failed: {exc.__class__.__name__}", attempt)
        if 200 <= response.status_code < 300:
            return HookResult(response.status_code, None, attempt)
        return HookResult(response.status_code, f"HTTP {response.status_code}", attempt)
