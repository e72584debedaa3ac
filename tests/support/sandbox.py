"""The sandbox served over real HTTP inside the test's event loop."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from tgshop.sandbox.client import SandboxClient
from tgshop.sandbox.core import Sandbox
from tgshop.sandbox.runner import serving
from tgshop.sandbox.server import create_sandbox_app

TOKEN = "4242424242:AAFsandboxTestTokenThatLooksReal_123"


@dataclass
class RunningSandbox:
    url: str
    sandbox: Sandbox
    client: SandboxClient
    token: str = TOKEN

    def bot(self) -> Bot:
        """An aiogram Bot that talks to this sandbox (close its session when done)."""
        session = AiohttpSession(api=TelegramAPIServer.from_base(self.url))
        return Bot(self.token, session=session)


@asynccontextmanager
async def running_sandbox(*, limits: bool = False) -> AsyncIterator[RunningSandbox]:
    sandbox = Sandbox()
    sandbox.limits.enabled = limits
    sandbox.add_bot(TOKEN, username="tgshop_test_bot", first_name="Test Shop")
    async with serving(create_sandbox_app(sandbox)) as url:
        client = SandboxClient(url)
        try:
            yield RunningSandbox(url, sandbox, client)
        finally:
            await client.aclose()
