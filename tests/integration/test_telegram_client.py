"""The aiogram adapter against a local HTTP server playing the Bot API (no internet)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from tgshop.config import TelegramSettings
from tgshop.jobs.telegram_client import AiogramTelegramClient
from tgshop.services.ports import TelegramSendError

TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@dataclass
class FakeBotApi:
    """Answers sendMessage with whatever the test sets; records each request."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200
    body: dict[str, Any] | None = None

    async def handle(self, request: web.Request) -> web.Response:
        assert request.match_info["token"] == TOKEN
        form = await request.post()
        self.requests.append({"method": request.match_info["method"], **dict(form)})
        body = self.body or {
            "ok": True,
            "result": {
                "message_id": 77,
                "date": 1_700_000_000,
                "chat": {"id": int(str(form["chat_id"])), "type": "private"},
                "text": form["text"],
            },
        }
        return web.json_response(body, status=self.status)


@pytest.fixture
async def bot_api() -> AsyncIterator[tuple[FakeBotApi, str]]:
    api = FakeBotApi()
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", api.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield api, f"http://127.0.0.1:{port}"
    await runner.cleanup()


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[[str], AiogramTelegramClient]]:
    clients: list[AiogramTelegramClient] = []

    def make(base_url: str) -> AiogramTelegramClient:
        settings = TelegramSettings(bot_token=SecretStr(TOKEN), telegram_api_url=base_url)
        client = AiogramTelegramClient(settings, timeout=5)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()


async def test_a_message_is_sent_to_the_configured_api_server(
    bot_api: tuple[FakeBotApi, str], make_client: Callable[[str], AiogramTelegramClient]
) -> None:
    api, url = bot_api
    message_id = await make_client(url).send_message(42, "<b>hi</b> &amp; bye")
    assert message_id == 77
    [request] = api.requests
    assert request["method"] == "sendMessage"
    assert (request["chat_id"], request["text"], request["parse_mode"]) == (
        "42",
        "<b>hi</b> &amp; bye",
        "HTML",
    )


def _error(code: int, description: str, **parameters: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return body


@pytest.mark.parametrize(
    ("status", "body", "permanent", "retry_after"),
    [
        (429, _error(429, "Too Many Requests: retry after 17", retry_after=17), False, 17),
        (403, _error(403, "Forbidden: bot was blocked by the user"), True, None),
        (400, _error(400, "Bad Request: chat not found"), True, None),
        (
            400,
            _error(400, "Bad Request: group chat was upgraded", migrate_to_chat_id=-100),
            True,
            None,
        ),
        (500, _error(500, "Internal Server Error"), False, None),
        (502, _error(502, "Bad Gateway"), False, None),
        (401, _error(401, "Unauthorized"), False, None),
    ],
)
async def test_telegram_errors_map_to_send_errors(
    bot_api: tuple[FakeBotApi, str],
    make_client: Callable[[str], AiogramTelegramClient],
    status: int,
    body: dict[str, Any],
    permanent: bool,
    retry_after: int | None,
) -> None:
    api, url = bot_api
    api.status, api.body = status, body
    with pytest.raises(TelegramSendError) as caught:
        await make_client(url).send_message(42, "hi")
    assert caught.value.permanent is permanent
    assert caught.value.retry_after == retry_after
    assert TOKEN not in str(caught.value)
    assert caught.value.__cause__ is None  # aiogram's exception (with the request) is not chained


async def test_an_unreachable_server_is_a_transient_error(
    make_client: Callable[[str], AiogramTelegramClient],
) -> None:
    with pytest.raises(TelegramSendError) as caught:
        await make_client("http://127.0.0.1:9").send_message(42, "hi")
    assert caught.value.permanent is False
    assert caught.value.retry_after is None
    assert TOKEN not in str(caught.value)


def test_a_client_without_a_token_is_refused() -> None:
    with pytest.raises(ValueError, match="TGSHOP_BOT_TOKEN is not set"):
        AiogramTelegramClient(TelegramSettings(bot_token=None))
