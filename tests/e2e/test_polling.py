"""`tgshop serve --polling`: the bot answers by long polling, and a second poller on the
same bot and database exits with a clear message instead of looping on Conflict."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.processes import clean_env, free_port
from tests.support.sandbox import RunningSandbox

pytestmark = pytest.mark.timeout(120)


async def start(cwd: Path, env: dict[str, str], port: int) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tgshop",
        "serve",
        "--polling",
        "--port",
        str(port),
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


async def wait_ready(port: int, process: asyncio.subprocess.Process) -> None:
    async with httpx.AsyncClient() as http:
        for _ in range(300):
            if process.returncode is not None:
                output = (await process.stdout.read()).decode() if process.stdout else ""
                raise AssertionError(f"exited with {process.returncode}:\n{output}")
            try:
                if (await http.get(f"http://127.0.0.1:{port}/ready")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("the poller never became ready")


async def test_polling_answers_and_a_second_poller_exits(
    sandbox: RunningSandbox, tmp_path: Path, db_url: str
) -> None:
    env = clean_env(
        TGSHOP_BOT_TOKEN=sandbox.token,
        TGSHOP_TELEGRAM_API_URL=sandbox.url,
        TGSHOP_DATABASE_URL=db_url,
    )
    bot = sandbox.sandbox.bot(sandbox.token)
    bot.webhook = None
    first_port = free_port()
    first = await start(tmp_path, env, first_port)
    try:
        await wait_ready(first_port, first)
        alice = await sandbox.client.user("Alice")
        reply = await alice.send("/start", wait=20)
        assert reply.text.startswith("Hello, Alice!")
        second = await start(tmp_path, env, free_port())
        output = (await asyncio.wait_for(second.communicate(), 60))[0].decode()
        assert second.returncode == 3, output
        assert "another tgshop is already polling for this bot" in output
        again = await alice.send("/start", wait=20)  # the first poller is undisturbed
        assert again.text.startswith("Hello, Alice!")
    finally:
        if first.returncode is None:
            first.send_signal(signal.SIGTERM)
        output = (await asyncio.wait_for(first.communicate(), 30))[0].decode()
    assert first.returncode == 0, output
    assert "polling for updates" in output and "stopped cleanly" in output
