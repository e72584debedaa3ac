"""The fake Crypto Pay API over HTTP: ``GET|POST /cryptobot/api/<method>``.

Point a client's base URL at ``<sandbox>/cryptobot/api`` instead of
``https://testnet-pay.crypt.bot/api``. Rules: the app's token travels in
``Crypto-Pay-API-Token`` (missing or unknown: 401 ``UNAUTHORIZED``); parameters come from
the query string, a JSON body or a urlencoded form; answers are ``{"ok": true, "result":
...}`` or ``{"ok": false, "error": {"code": ..., "name": ...}}`` with the same HTTP status;
an unknown method is 405 ``METHOD_NOT_FOUND``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tgshop.sandbox.cryptopay import CryptoApp, CryptoParams, CryptoPay, CryptoPayError

Method = Callable[[CryptoPay, CryptoApp, CryptoParams, str], Any]


def _get_me(pay: CryptoPay, app: CryptoApp, params: CryptoParams, base_url: str) -> Any:
    return app.to_api()


def _create_invoice(pay: CryptoPay, app: CryptoApp, params: CryptoParams, base_url: str) -> Any:
    return pay.create_invoice(app, params, base_url).to_api()


def _get_invoices(pay: CryptoPay, app: CryptoApp, params: CryptoParams, base_url: str) -> Any:
    return {"items": [invoice.to_api() for invoice in pay.get_invoices(app, params)]}


def _delete_invoice(pay: CryptoPay, app: CryptoApp, params: CryptoParams, base_url: str) -> Any:
    return pay.delete_invoice(app, params)


# Keyed in lower case: the service documents camelCase names, and a client that writes
# "getme" reaches the same method.
METHODS: dict[str, Method] = {
    "getme": _get_me,
    "createinvoice": _create_invoice,
    "getinvoices": _get_invoices,
    "deleteinvoice": _delete_invoice,
}


async def _values(request: Request) -> dict[str, Any]:
    values: dict[str, Any] = dict(request.query_params)
    if request.method != "POST":
        return values
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        body = await request.body()
        if body:
            try:
                data = json.loads(body)
            except ValueError:
                raise CryptoPayError(400, "JSON_INVALID") from None
            if not isinstance(data, dict):
                raise CryptoPayError(400, "JSON_INVALID")
            values.update(data)
    elif content_type.startswith("application/x-www-form-urlencoded"):
        form = await request.form()
        values.update({key: value for key, value in form.items() if isinstance(value, str)})
    return values


def cryptopay_api_routes(pay: CryptoPay) -> list[Route]:
    async def endpoint(request: Request) -> Response:
        try:
            app = pay.app(request.headers.get("crypto-pay-api-token"))
            method = METHODS.get(request.path_params["method"].lower())
            if method is None:
                raise CryptoPayError(405, "METHOD_NOT_FOUND")
            params = CryptoParams(await _values(request))
            result = method(pay, app, params, str(request.base_url))
        except CryptoPayError as error:
            return JSONResponse(error.envelope(), error.code)
        return JSONResponse({"ok": True, "result": result})

    return [Route("/cryptobot/api/{method}", endpoint, methods=["GET", "POST"])]
