"""`tgshop webhook set | info | delete` against the sandbox, as an operator runs them."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tests.support.processes import clean_env
from tests.support.sandbox import RunningSandbox

SECRET = "cli-webhook-secret-0123456789"


async def tgshop(cwd: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    # Asynchronously, so the sandbox in this event loop keeps answering the command.
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tgshop",
        *args,
        cwd=cwd,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


async def test_set_info_delete(sandbox: RunningSandbox, tmp_path: Path) -> None:
    env = clean_env(
        TGSHOP_BOT_TOKEN=sandbox.token,
        TGSHOP_TELEGRAM_API_URL=sandbox.url,
        TGSHOP_PUBLIC_URL="http://127.0.0.1:8081",
        TGSHOP_WEBHOOK_SECRET=SECRET,
    )
    code, out, err = await tgshop(tmp_path, env, "webhook", "set")
    assert code == 0, err
    assert "webhook set: http://127.0.0.1:8081/telegram/webhook" in out
    hook = sandbox.sandbox.bot(sandbox.token).webhook
    assert hook is not None and hook.secret_token == SECRET
    assert hook.allowed_updates and {"message", "callback_query"} <= set(hook.allowed_updates)
    code, out, err = await tgshop(tmp_path, env, "webhook", "info")
    assert code == 0, err
    assert "url: http://127.0.0.1:8081/telegram/webhook" in out and SECRET not in out
    code, out, err = await tgshop(tmp_path, env, "webhook", "delete", "--drop-pending")
    assert (code, out.strip()) == (0, "webhook deleted and pending updates dropped")
    assert sandbox.sandbox.bot(sandbox.token).webhook is None


async def test_missing_settings_and_refusals_are_explained(
    sandbox: RunningSandbox, tmp_path: Path
) -> None:
    env = clean_env(TGSHOP_BOT_TOKEN=sandbox.token, TGSHOP_TELEGRAM_API_URL=sandbox.url)
    code, _, err = await tgshop(tmp_path, env, "webhook", "set")
    assert code == 2 and "TGSHOP_PUBLIC_URL is not set" in err
    env |= {"TGSHOP_PUBLIC_URL": "https://shop.example.org", "TGSHOP_WEBHOOK_SECRET": SECRET}
    await sandbox.client.set_fault("setWebhook", server_error=1.0)
    code, _, err = await tgshop(tmp_path, env, "webhook", "set")
    assert code == 1 and "Telegram refused" in err
