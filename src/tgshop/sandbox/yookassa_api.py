"""The fake YooKassa API over HTTP, under ``/yookassa/v3`` (point a client's base URL at
``<sandbox>/yookassa/v3`` instead of ``https://api.yookassa.ru/v3``).

Rules:
- HTTP Basic ``shopId:secretKey`` on every call; anything else is 401
  ``invalid_credentials``;
- a POST that creates or changes something (``/payments``, ``/payments/{id}/cancel``,
  ``/refunds``) needs an ``Idempotence-Key`` header (at most 64 characters). The first
  successful answer is remembered for 24 hours under that key: the same request again gets
  that very answer (a retry never makes a second payment), a different request under the
  same key is 400 "Idempotence key duplicated". A refused request is not remembered, so the
  caller can fix it and retry with the same key;
- errors are ``{"type": "error", "id", "code", "description", "parameter"?}``: 400
  ``invalid_request`` names the parameter at fault, 404 ``not_found``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tgshop.sandbox.yookassa import (
    MAX_IDEMPOTENCE_KEY,
    YooKassa,
    YooKassaError,
    YooKassaShop,
    bad,
    not_found,
)

PREFIX = "/yookassa/v3"
# What a changing call does: (shop, JSON body, path parameters, base URL) -> the answer.
Change = Callable[[YooKassaShop, dict[str, Any], dict[str, Any], str], dict[str, Any]]
Endpoint = Callable[[Request], Awaitable[Response]]


def _shop(kassa: YooKassa, request: Request) -> YooKassaShop:
    refused = YooKassaError(
        401,
        "invalid_credentials",
        "Authentication failed: check the shopId and the secret key (HTTP Basic)",
    )
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        raise refused
    try:
        shop_id, sep, secret = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise refused from None
    shop = kassa.shops.get(shop_id)
    if not sep or shop is None or not hmac.compare_digest(shop.secret_key, secret):
        raise refused
    return shop


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise bad("The request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise bad("The request body must be a JSON object")
    return data


def _answer(error: YooKassaError) -> Response:
    return JSONResponse(error.to_api(), error.status)


def yookassa_api_routes(kassa: YooKassa) -> list[Route]:
    def reading(read: Callable[[YooKassaShop, str], dict[str, Any]], name: str) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                shop = _shop(kassa, request)
                return JSONResponse(read(shop, request.path_params[name]))
            except YooKassaError as error:
                return _answer(error)

        return endpoint

    def changing(change: Change) -> Endpoint:
        async def endpoint(request: Request) -> Response:
            try:
                shop = _shop(kassa, request)
                key = request.headers.get("idempotence-key", "")
                if not key:
                    raise bad("The Idempotence-Key header is required", "Idempotence-Key")
                if len(key) > MAX_IDEMPOTENCE_KEY:
                    raise bad(
                        f"Idempotence-Key is at most {MAX_IDEMPOTENCE_KEY} characters",
                        "Idempotence-Key",
                    )
                body = await _json_body(request)
                # The same request is the same path and the same JSON, whatever its spacing
                # or key order.
                fingerprint = f"{request.url.path}\n{json.dumps(body, sort_keys=True)}"
                stored = kassa.remembered(shop, key, fingerprint)
                if stored is not None:
                    return JSONResponse(stored.body, stored.status)
                # No await from here to remember(): two identical requests racing in cannot
                # both create a payment.
                result = change(shop, body, request.path_params, str(request.base_url))
                kassa.remember(shop, key, fingerprint, 200, result)
                return JSONResponse(result)
            except YooKassaError as error:
                return _answer(error)

        return endpoint

    def create_payment(
        shop: YooKassaShop, body: dict[str, Any], path: dict[str, Any], base_url: str
    ) -> dict[str, Any]:
        return kassa.create_payment(shop, body, base_url).to_api()

    def cancel_payment(
        shop: YooKassaShop, body: dict[str, Any], path: dict[str, Any], base_url: str
    ) -> dict[str, Any]:
        return kassa.cancel_by_merchant(kassa.payment(shop, path["payment_id"])).to_api()

    def create_refund(
        shop: YooKassaShop, body: dict[str, Any], path: dict[str, Any], base_url: str
    ) -> dict[str, Any]:
        return kassa.create_refund(shop, body).to_api()

    def read_payment(shop: YooKassaShop, payment_id: str) -> dict[str, Any]:
        return kassa.payment(shop, payment_id).to_api()

    def read_refund(shop: YooKassaShop, refund_id: str) -> dict[str, Any]:
        return kassa.refund(shop, refund_id).to_api()

    async def unknown(request: Request) -> Response:
        try:
            _shop(kassa, request)
        except YooKassaError as error:
            return _answer(error)
        return _answer(not_found())

    every = ["GET", "POST", "PUT", "PATCH", "DELETE"]
    return [
        Route(f"{PREFIX}/payments", changing(create_payment), methods=["POST"]),
        Route(
            f"{PREFIX}/payments/{{payment_id}}",
            reading(read_payment, "payment_id"),
            methods=["GET"],
        ),
        Route(
            f"{PREFIX}/payments/{{payment_id}}/cancel",
            changing(cancel_payment),
            methods=["POST"],
        ),
        Route(f"{PREFIX}/refunds", changing(create_refund), methods=["POST"]),
        Route(
            f"{PREFIX}/refunds/{{refund_id}}", reading(read_refund, "refund_id"), methods=["GET"]
        ),
        Route(f"{PREFIX}/{{rest:path}}", unknown, methods=every),
    ]
