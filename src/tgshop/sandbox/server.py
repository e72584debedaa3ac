"""The sandbox's HTTP face: the Bot API at ``/bot<token>/<method>`` (and files at
``/file/bot<token>/<path>``) as Telegram serves it, the fake payment providers at
``/cryptobot/api`` and ``/yookassa/v3``, the control API under ``/sandbox/api`` and the chat
page at ``/sandbox``."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from tgshop.sandbox.bot_api import call
from tgshop.sandbox.core import Sandbox
from tgshop.sandbox.errors import NOT_FOUND, ApiError, bad_request
from tgshop.sandbox.faults import DropConnection
from tgshop.sandbox.params import Params, Upload


class _Dropped(Response):
    """Start an answer and abandon it: the client sees the connection drop."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise ConnectionAbortedError("sandbox fault injection: connection dropped")


# One encoder for every answer: json.dumps with options builds a new one per call.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(_encode(body).encode(), status, media_type="application/json")


def _content_type(request: Request) -> str:
    # Straight from the ASGI scope: building Starlette's Headers costs more than the lookup.
    for name, value in request.scope["headers"]:
        if name == b"content-type":
            return bytes(value).decode("latin-1")
    return ""


async def read_params(request: Request) -> Params:
    values: dict[str, Any] = dict(request.query_params) if request.scope["query_string"] else {}
    uploads: dict[str, Upload] = {}
    content_type = _content_type(request)
    if request.method == "POST":
        if content_type.startswith("application/json"):
            body = await request.body()
            if body:
                try:
                    data = json.loads(body)
                except json.JSONDecodeError:
                    raise bad_request("can't parse JSON request body") from None
                if not isinstance(data, dict):
                    raise bad_request("the request body must be a JSON object")
                values.update(data)
        elif content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            form = await request.form(max_files=20, max_fields=200)
            for key, value in form.multi_items():
                if isinstance(value, UploadFile):
                    uploads[key] = Upload(
                        value.filename or key, value.content_type or "", await value.read()
                    )
                else:
                    values[key] = value
    return Params(values, uploads)


def bot_api_route(sandbox: Sandbox) -> Route:
    async def endpoint(request: Request) -> Response:
        token = request.path_params["token"]
        method = request.path_params["method"]
        try:
            bot = sandbox.bot(token)
            params = await read_params(request)
            result = await call(sandbox, bot, method, params)
        except ApiError as error:
            return _json(error.envelope(), error.code)
        except DropConnection:
            return _Dropped()
        return _json({"ok": True, "result": result})

    return Route("/bot{token}/{method}", endpoint, methods=["GET", "POST"])


def file_route(sandbox: Sandbox) -> Route:
    async def endpoint(request: Request) -> Response:
        try:
            bot = sandbox.bot(request.path_params["token"])
        except ApiError as error:
            return _json(error.envelope(), error.code)
        file_id = request.path_params["path"].rsplit("/", 1)[-1].removesuffix("_s")
        stored = bot.files.get(file_id)
        if stored is None or stored.data is None:
            return _json(NOT_FOUND.envelope(), 404)
        return Response(stored.data, media_type=stored.mime_type)

    return Route("/file/bot{token}/{path:path}", endpoint, methods=["GET"])


def create_sandbox_app(sandbox: Sandbox) -> Starlette:
    """The sandbox as one ASGI app (mount it, or serve it alone)."""
    from tgshop.sandbox.control import control_routes
    from tgshop.sandbox.cryptopay_api import cryptopay_api_routes
    from tgshop.sandbox.cryptopay_control import cryptopay_control_routes, cryptopay_page_routes
    from tgshop.sandbox.ui import ui_routes
    from tgshop.sandbox.yookassa_api import yookassa_api_routes
    from tgshop.sandbox.yookassa_control import yookassa_control_routes, yookassa_page_routes

    control = [
        *control_routes(sandbox),
        *cryptopay_control_routes(sandbox),
        *yookassa_control_routes(sandbox),
    ]
    routes = [
        bot_api_route(sandbox),
        file_route(sandbox),
        *cryptopay_api_routes(sandbox.cryptopay),
        *yookassa_api_routes(sandbox.yookassa),
        Mount("/sandbox/api", routes=control),
        *cryptopay_page_routes(sandbox),
        *yookassa_page_routes(sandbox),
        *ui_routes(),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/bot"):
            return _json(NOT_FOUND.envelope(), 404)
        return JSONResponse({"ok": False, "error": "not found"}, 404)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await sandbox.close()

    app = Starlette(routes=routes, exception_handlers={404: not_found}, lifespan=lifespan)
    app.state.sandbox = sandbox
    return app
