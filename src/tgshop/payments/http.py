"""What every provider adapter does the same way over httpx: one client per adapter with a
timeout, and transport failures turned into retryable ProviderErrors."""

from __future__ import annotations

from typing import Any

import httpx

from tgshop.services.ports import ProviderError

# A provider that has not answered in this long is treated as down: the caller (a button
# press, a webhook, a job) must not hang on it.
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def new_client(base_url: str, **options: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=base_url.rstrip("/") + "/", timeout=TIMEOUT, **options)


async def send(
    client: httpx.AsyncClient, provider: str, method: str, path: str, **options: Any
) -> httpx.Response:
    """One request; a timeout, a broken connection, a 429 or a 5xx is a retryable error."""
    try:
        response = await client.request(method, path, **options)
    except httpx.HTTPError as exc:
        raise ProviderError(
            f"{provider}: {type(exc).__name__}: {exc or 'no answer'}", retryable=True
        ) from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise ProviderError(f"{provider} answered HTTP {response.status_code}", retryable=True)
    return response


def json_object(response: httpx.Response, provider: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise ProviderError(
            f"{provider} answered HTTP {response.status_code} with a body that is not JSON",
            retryable=True,
        ) from None
    if not isinstance(data, dict):
        raise ProviderError(f"{provider} answered with JSON that is not an object")
    return data
