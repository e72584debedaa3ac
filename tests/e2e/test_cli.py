"""The `tgshop` command as an operator uses it: a clean folder, a clean environment."""

from __future__ import annotations

import json
import signal
import sqlite3
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support.processes import clean_env, free_port, run_cli, start, wait_http
from tgshop import __version__


def serve_until_sigterm(
    args: list[str],
    cwd: Path,
    port: int,
    env: dict[str, str] | None = None,
    also: Callable[[str], None] | None = None,
) -> tuple[int, str]:
    """Start a server command, check it is live and ready (and ``also``), stop it with SIGTERM."""
    process = start(*args, cwd=cwd, env=env)
    try:
        health = wait_http(f"http://127.0.0.1:{port}/health", process)
        assert health.status_code == 200
        ready = wait_http(f"http://127.0.0.1:{port}/ready", process)
        assert ready.status_code == 200, ready.text
        if also is not None:
            also(f"http://127.0.0.1:{port}")
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, output


def test_version(tmp_path: Path) -> None:
    result = run_cli("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"tgshop {__version__}"


def test_check_then_migrate_then_check(tmp_path: Path) -> None:
    before = run_cli("check", cwd=tmp_path)
    assert before.returncode == 1
    assert "TGSHOP_DATABASE_URL" in before.stderr and "run `tgshop migrate`" in before.stderr
    migrated = run_cli("migrate", cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert "database at revision" in migrated.stdout
    after = run_cli("check", cwd=tmp_path)
    assert after.returncode == 0, after.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["var"]


def test_check_lists_every_bad_variable_with_hints(tmp_path: Path) -> None:
    env = clean_env(
        TGSHOP_SHOP_CURRENCY="XXX", TGSHOP_REDIS_URL="memcached://x", TGSHOP_BOT_TOKEN="123:short"
    )
    result = run_cli("check", cwd=tmp_path, env=env)
    assert result.returncode == 1
    for variable in ("TGSHOP_SHOP_CURRENCY", "TGSHOP_REDIS_URL", "TGSHOP_BOT_TOKEN"):
        assert variable in result.stderr
    assert "hint:" in result.stderr
    assert "123:short" not in result.stderr


def test_production_refuses_to_start_without_safe_secrets(tmp_path: Path) -> None:
    env = clean_env(
        TGSHOP_ENV="production",
        TGSHOP_PUBLIC_URL="http://shop.test",
        TGSHOP_WEBHOOK_SECRET="change-me",
    )
    result = run_cli("serve", "--port", str(free_port()), cwd=tmp_path, env=env)
    assert result.returncode == 2
    for variable in ("TGSHOP_WEBHOOK_SECRET", "TGSHOP_PUBLIC_URL", "TGSHOP_BOT_TOKEN"):
        assert variable in result.stderr + result.stdout
    checked = run_cli("check", "--offline", cwd=tmp_path, env=env)
    assert checked.returncode == 1 and "TGSHOP_WEBHOOK_SECRET" in checked.stderr


def test_serve_runs_in_an_empty_folder_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    returncode, output = serve_until_sigterm(["serve", "--port", str(port)], tmp_path, port)
    assert returncode == 0, output
    assert "stopped cleanly" in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["var"]


def test_catalog_import_errors_write_nothing_and_export_round_trips(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(
        json.dumps(
            {
                "categories": [],
                "products": [
                    {
                        "key": "x",
                        "kind": "physical",
                        "title": "X",
                        "variants": [
                            {
                                "sku": "X-1",
                                "title": "one",
                                "price": "abc",
                                "currency": "USD",
                                "stock": 1,
                            }
                        ],
                    }
                ],
            }
        )
    )
    result = run_cli("catalog", "import", str(broken), cwd=tmp_path)
    assert result.returncode == 1
    assert "products[0].variants[0].price" in result.stderr
    assert "Nothing was imported" in result.stderr
    good = tmp_path / "good.json"
    good.write_text(
        json.dumps(
            {
                "categories": [{"key": "tea", "title": "Tea", "parent": None}],
                "products": [
                    {
                        "key": "sencha",
                        "category": "tea",
                        "kind": "physical",
                        "title": "Sencha",
                        "description": "Green",
                        "variants": [
                            {
                                "sku": "SEN-100",
                                "title": "100 g",
                                "price": "9.90",
                                "currency": "USD",
                                "stock": 25,
                            }
                        ],
                    }
                ],
            }
        )
    )
    imported = run_cli("catalog", "import", str(good), cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    exported = run_cli("catalog", "export", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    assert [p["key"] for p in document["products"]] == ["sencha"]
    assert document["products"][0]["variants"][0]["price"] == "9.90"
    out = tmp_path / "out" / "catalog.json"
    out.parent.mkdir()
    to_file = run_cli("catalog", "export", "-o", str(out), cwd=tmp_path)
    assert to_file.returncode == 0, to_file.stderr
    assert json.loads(out.read_text()) == document


def sandbox_is_there(base: str) -> None:
    """The demo serves the Telegram sandbox: its page, its bot and the managers' group."""
    page = httpx.get(f"{base}/sandbox/", timeout=5)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    bots = httpx.get(f"{base}/sandbox/api/bots", timeout=5).json()["result"]
    assert [b["username"] for b in bots] == ["leaf_and_bean_bot"]
    chats = httpx.get(f"{base}/sandbox/api/chats", timeout=5).json()["result"]
    assert [c["type"] for c in chats] == ["supergroup"]
    # The shop's bot answers in the sandbox: webhook registered, update delivered, reply sent.
    api = f"{base}/sandbox/api"
    user = httpx.post(f"{api}/users", json={"first_name": "Dana"}, timeout=5).json()["result"]
    httpx.post(f"{api}/users/{user['id']}/send", json={"text": "/start"}, timeout=5)
    chat = httpx.get(
        f"{api}/chats/{user['id']}", params={"after_version": 1, "wait": 15}, timeout=20
    ).json()["result"]
    replies = [m["text"] for m in chat["messages"] if m["from"]["is_bot"]]
    assert replies and "Welcome to Leaf & Bean" in replies[0], chat


def demo_payment_providers_are_there(base: str) -> None:
    """The demo's sandbox plays CryptoBot and YooKassa too, and the shop's webhook routes
    for them are served (a notification without a signature is refused)."""
    sandbox_is_there(base)
    crypto = httpx.post(f"{base}/cryptobot/api/getMe", timeout=5)
    assert crypto.status_code == 401 and crypto.json()["error"]["name"] == "UNAUTHORIZED"
    unsigned = httpx.post(f"{base}/payments/cryptobot/webhook", content=b"{}", timeout=5)
    assert unsigned.status_code == 401, unsigned.text
    assert httpx.get(f"{base}/payments/return", timeout=5).status_code == 200


def test_demo_runs_offline_in_an_empty_folder_with_its_catalog(tmp_path: Path) -> None:
    port = free_port()
    # Even with a real shop's database configured, the demo uses its own SQLite file.
    env = clean_env(TGSHOP_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/real-shop.db")
    returncode, output = serve_until_sigterm(
        ["demo", "--port", str(port)], tmp_path, port, env, also=demo_payment_providers_are_there
    )
    assert returncode == 0, output
    assert f"http://127.0.0.1:{port}/sandbox/" in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["var"]
    with sqlite3.connect(tmp_path / "var" / "demo.db") as conn:
        kinds = {k for (k,) in conn.execute("SELECT DISTINCT kind FROM products")}
        images = conn.execute("SELECT COUNT(*) FROM media").fetchone()[0]
    assert kinds == {"physical", "digital", "subscription"}
    assert images > 0


def test_check_reports_prices_in_another_currency(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.json"
    catalog.write_text(
        json.dumps(
            {
                "categories": [],
                "products": [
                    {
                        "key": "tea",
                        "kind": "physical",
                        "title": "Tea",
                        "variants": [{"sku": "T-1", "title": "one", "price": "1.00", "stock": 1}],
                    }
                ],
            }
        )
    )
    assert run_cli("catalog", "import", str(catalog), cwd=tmp_path).returncode == 0
    result = run_cli("check", cwd=tmp_path, env=clean_env(TGSHOP_SHOP_CURRENCY="EUR"))
    assert result.returncode == 1
    assert "1 variant(s) are priced in USD, not EUR" in result.stderr
