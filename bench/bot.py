"""Customer bot throughput: webhook updates per second for a catalog button press, one core.

How it measures:
- **the shop under test** is ``tgshop serve`` itself (``python -c`` running what
  ``python -m tgshop`` runs, plus a gc callback that adds up collection pauses), in a child
  process pinned to one core (``sched_setaffinity``), configured by environment variables
  the way a deployment is: ``TGSHOP_ENV=production`` (JSON logs at ``--log-level``, INFO by
  default: one access line per request, written to a file), the outbox worker in the
  process (the default), the default connection pool, no Redis (``--redis-url`` adds a
  PostgreSQL + Redis run). So the path is uvicorn (httptools, uvloop) → FastAPI and our
  middlewares → secret check → update de-duplication (a database insert) → aiogram → FSM
  state read → onboarding upsert → blocked / throttle / maintenance / idle checks → the
  catalog handler (category tree, a page of products) → answerCallbackQuery and
  editMessageText to the Bot API;
- **the database**: a fresh SQLite file in a temp folder, and a PostgreSQL database created
  on ``--postgres-url`` (default the local server) and dropped afterwards; migrated; a
  catalog of 6 categories (two of them subcategories) and 40 products with two variants
  each (HTML-hostile titles among them), and ``--users`` customers who already exist, so
  onboarding is the update a returning customer costs, not an insert;
- **the presses**: callback queries on a catalog message of the bot (with its keyboard, as
  Telegram sends it) carrying a real "page of products" button of the shop
  (``ProductList(category, page).pack()``), over every category and page, from every
  customer in turn (the bot throttles per person: one person pressing thousands of times
  would be refused), each with a fresh update_id (de-duplication stays on the path), posted
  to ``/telegram/webhook`` with the secret header by a raw-socket HTTP/1.1 client with
  ``--concurrency`` requests in flight, after a warm-up; every answer must be 200;
- **Telegram's side** is a stub Bot API in a child process (raw asyncio + httptools): it
  answers every method at once with a fixed, plausible answer (an edited Message with a
  product keyboard for editMessageText, ``true`` for answerCallbackQuery) and counts the
  calls: every press must have produced exactly one answerCallbackQuery and one
  editMessageText and nothing else (an error handler's message would show up here), so a
  handler failing quietly cannot look fast; warnings and errors in the shop's log are
  printed;
- **baseline**: a bare aiogram 3 webhook — a Starlette route (same secret check) that
  validates the Update and feeds a Dispatcher (aiogram's defaults) whose one
  callback_query handler answers the callback — its Bot built as the shop's ``build_bot``
  builds it (without importing tgshop) — served by the same uvicorn setup on the same
  pinned core, fed the same presses, talking to the same stub;
- the servers under test run on cpu0; this process (the load generator) and the stub share
  cpu1. PostgreSQL's server processes cannot be pinned from here and run wherever the
  kernel puts them. Each run prints the server process's CPU per update and how busy each
  core was, so a run limited by the load side (or by other work on the machine) shows;
- bare and shop runs alternate for ``--rounds`` rounds (the order swapping each round) and
  the best of each is kept: other work on a shared machine hits both alike;
- **peak memory**: VmHWM (peak resident set) of the shop's process from /proc at the end;
- the shop runs with its defaults, so its catalog reads (tree, page of products) come from
  its 5-second memory (``TGSHOP_SHOP_CATALOG_CACHE_SECONDS``) except when an entry has
  expired;
- ``--breakdown`` also times each step of a press alone, in this process, through the
  production wiring (``build_container``), to show where the time goes (the catalog steps
  both from memory and with it off); ``--what-if``
  measures the shop with a change it does not have yet; ``--profile`` runs it under
  cProfile (coroutine call counts are resumptions; use the times).

Usage: python -m bench.bot [--updates 2000] [--concurrency 64] [--rounds 3] [--users 5000]
       [--postgres-url URL] [--skip-postgres] [--skip-sqlite] [--redis-url URL]
       [--log-level INFO] [--breakdown] [--what-if NAME] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import secrets
import shutil
import socket
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import httptools

TOKEN = "4242424242:AAFbenchShopBotTokenLooksReal_12345678"
BOT_ID = 4242424242
SECRET = "bench-webhook-secret-7Qm2xZk9"
MANAGER_CHAT_ID = -1001234567890
SHOP_CORE, LOAD_CORE = 0, 1
TARGET_SHARE, TARGET_RATE, TARGET_RSS_MB = 0.6, 600, 200
WEBHOOK_PATH = "/telegram/webhook"

# ----------------------------------------------------------------------------- Bot API stub

STUB_ME = {
    "id": BOT_ID,
    "is_bot": True,
    "first_name": "Bench Shop",
    "username": "bench_shop_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}


def _keyboard(rows: int) -> dict[str, Any]:
    """A product page's keyboard as Telegram echoes it back: product buttons, ◀ page ▶,
    Back (the sizes of the shop's own)."""
    buttons = [
        [{"text": f"Sencha & <b>Matcha</b> {n} · from $9.90", "callback_data": f"pc:{n}:0:1:3:1"}]
        for n in range(rows)
    ]
    buttons.append(
        [
            {"text": "◀", "callback_data": "pl:3:2"},
            {"text": "page 1/2", "callback_data": "h:page"},
            {"text": "▶", "callback_data": "pl:3:2"},
        ]
    )
    buttons.append([{"text": "◀ Back", "callback_data": "cat:0"}])
    return {"inline_keyboard": buttons}


def _screen_message(message_id: int, chat: dict[str, Any], date: int) -> dict[str, Any]:
    """A catalog screen of the bot, as Telegram sends or returns it."""
    return {
        "message_id": message_id,
        "from": STUB_ME,
        "chat": chat,
        "date": date,
        "edit_date": date,
        "text": "🛍 Green tea\nPage 1 of 2",
        "entities": [{"type": "bold", "offset": 3, "length": 9}],
        "reply_markup": _keyboard(8),
    }


def _ok(result: Any) -> bytes:
    return json.dumps({"ok": True, "result": result}, ensure_ascii=False).encode()


def stub_answers() -> dict[bytes, bytes]:
    chat = {"id": 700_000_001, "type": "private", "first_name": "Buyer"}
    message = _screen_message(1, chat, int(time.time()))
    return {
        b"getme": _ok(STUB_ME),
        b"editmessagetext": _ok(message),
        b"sendmessage": _ok(message),
        b"answercallbackquery": _ok(True),
        # The shop's worker reconciles Stars every 10 minutes, once at start.
        b"getstartransactions": _ok({"transactions": []}),
    }


class StubProtocol(asyncio.Protocol):
    """One keep-alive connection to the stub: route by the method in the URL, answer fixed
    bytes, count. ``GET /bench/counts`` returns the counts (and is not counted)."""

    answers: ClassVar[dict[bytes, bytes]] = {}
    counts: ClassVar[Counter[str]] = Counter()
    default = _ok(True)

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_message_complete(self) -> None:
        path = self.url.split(b"?", 1)[0]
        self.url = b""
        method = path.rsplit(b"/", 1)[-1]
        if path == b"/bench/counts":
            body = json.dumps(self.counts).encode()
        else:
            self.counts[method.decode()] += 1
            body = self.answers.get(method.lower(), self.default)
        assert self.transport is not None
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%b"
            % (len(body), body)
        )
        if not self.parser.should_keep_alive():
            self.transport.close()


def serve_stub(port: int) -> None:
    """Child-process entry: the stub Bot API on ``port`` until killed."""
    import uvloop

    StubProtocol.answers = stub_answers()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(StubProtocol, "127.0.0.1", port, backlog=1024)
        await server.serve_forever()

    uvloop.run(main())


# ----------------------------------------------------------------------------- bare baseline


def serve_bare(port: int, api_url: str) -> None:
    """Child-process entry: the least an aiogram webhook bot does, under the same uvicorn
    setup as ``tgshop serve`` (httptools, uvloop)."""
    import hmac

    from aiogram import Bot, Dispatcher, Router
    from aiogram.client.default import DefaultBotProperties
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.enums import ParseMode
    from aiogram.types import CallbackQuery, Update
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    # What tgshop.bot.factory.build_bot builds, without importing tgshop (a bare bot).
    session = AiohttpSession(api=TelegramAPIServer.from_base(api_url))
    bot = Bot(TOKEN, session=session, default=DefaultBotProperties(parse_mode=ParseMode.HTML))
    dispatcher = Dispatcher()
    router = Router()

    @router.callback_query()
    async def answer(query: CallbackQuery) -> None:
        await query.answer()

    dispatcher.include_router(router)
    expected = SECRET.encode()

    async def webhook(request: Request) -> Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode()
        if not hmac.compare_digest(given, expected):
            return Response(status_code=401)
        update = Update.model_validate(await request.json(), context={"bot": bot})
        await dispatcher.feed_update(bot, update)
        return Response(status_code=200)

    app = Starlette(routes=[Route(WEBHOOK_PATH, webhook, methods=["POST"])])
    run_bare(app, port)


def run_bare(app: Any, port: int) -> None:
    """Serve a baseline app the way ``tgshop serve`` serves (httptools, uvloop), quietly."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    uvicorn.Server(config).run()


# ----------------------------------------------------------------------------- load generator


class _Response(asyncio.Protocol):
    """A keep-alive client connection: send one request, wait for its response."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.body = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        assert self.waiter is not None
        self.waiter.set_result((self.parser.get_status_code(), self.body))
        self.body = b""

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("the server closed the connection"))

    async def request(self, data: bytes) -> tuple[int, bytes]:
        self.waiter = asyncio.get_running_loop().create_future()
        assert self.transport is not None
        self.transport.write(data)
        return await self.waiter


async def connect(port: int) -> _Response:
    loop = asyncio.get_running_loop()
    _, protocol = await loop.create_connection(_Response, "127.0.0.1", port)
    return protocol


def http_request(port: int, method: str, path: str, body: bytes = b"", **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def blast(
    port: int, requests: list[bytes], concurrency: int, latencies: list[float] | None = None
) -> float:
    """Send every request with ``concurrency`` in flight; every answer must be 200. Each
    request's time is appended to ``latencies`` when given."""
    connections = [await connect(port) for _ in range(concurrency)]
    queue = iter(requests)

    async def worker(connection: _Response) -> None:
        for request in queue:
            began = time.perf_counter()
            status, body = await connection.request(request)
            if latencies is not None:
                latencies.append(time.perf_counter() - began)
            if status != 200:
                raise RuntimeError(f"the webhook answered {status}: {body[:300]!r}")

    started = time.perf_counter()
    try:
        await asyncio.gather(*(worker(c) for c in connections))
    finally:
        seconds = time.perf_counter() - started
        for connection in connections:
            assert connection.transport is not None
            connection.transport.close()
    return seconds


async def get_json(port: int, path: str) -> tuple[int, Any]:
    connection = await connect(port)
    try:
        status, body = await connection.request(http_request(port, "GET", path))
    finally:
        assert connection.transport is not None
        connection.transport.close()
    return status, json.loads(body) if body else None


# ----------------------------------------------------------------------------- the updates


@dataclass
class Presses:
    """Catalog button presses: callback queries with fresh update ids, every customer in
    turn, over every (category, page) the catalog has."""

    customers: list[tuple[int, str]]  # (telegram id, language)
    buttons: list[str]
    port: int = 0
    next_update: int = 1
    next_customer: int = 0
    per_customer: Counter[int] = field(default_factory=Counter)

    def build(self, count: int) -> list[bytes]:
        date = int(time.time())
        requests = []
        for _ in range(count):
            n = self.next_update
            self.next_update += 1
            telegram_id, language = self.customers[self.next_customer % len(self.customers)]
            self.next_customer += 1
            self.per_customer[telegram_id] += 1
            person = {
                "id": telegram_id,
                "is_bot": False,
                "first_name": f"Buyer <b>{telegram_id % 1000}</b> & co",
                "username": f"buyer{telegram_id}",
                "language_code": language,
            }
            chat = {
                "id": telegram_id,
                "type": "private",
                "first_name": person["first_name"],
                "username": person["username"],
            }
            update = {
                "update_id": n,
                "callback_query": {
                    "id": f"{telegram_id}{n}",
                    "from": person,
                    "message": _screen_message(1000 + n % 50, chat, date - 30),
                    "chat_instance": str(-telegram_id * 7),
                    "data": self.buttons[n % len(self.buttons)],
                },
            }
            body = json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode()
            requests.append(
                http_request(
                    self.port,
                    "POST",
                    WEBHOOK_PATH,
                    body,
                    Content_Type="application/json",
                    X_Telegram_Bot_Api_Secret_Token=SECRET,
                )
            )
        return requests


# ----------------------------------------------------------------------------- the database

NOW = datetime.now(UTC)
# (category, parent, products): 40 products, two subcategories, titles hostile to HTML.
CATALOG = [
    ("Tea", None, 0),
    ("Green tea", "Tea", 10),
    ("Black & <i>Oolong</i>", "Tea", 8),
    ("Coffee", None, 10),
    ("Sweets <b>&</b> snacks", None, 8),
    ("Teaware", None, 4),
]


async def seed(url: str, users: int) -> tuple[list[tuple[int, str]], list[str]]:
    """Migrate, load the catalog and the customers; return the customers and the buttons."""
    from sqlalchemy import insert
    from tests.support import databases

    from tgshop.bot.catalog_keyboards import PRODUCTS_PER_PAGE, ProductList
    from tgshop.db.models import Category, Product, User, Variant
    from tgshop.domain.catalog import search_key

    db = databases.database_for(url)
    try:
        await databases.migrate.upgrade(db)
        async with db.transaction() as session:
            ids: dict[str, int] = {}
            counts: dict[int, int] = {}
            n = 0
            for position, (title, parent, products) in enumerate(CATALOG):
                category = Category(
                    key=f"c{position}",
                    title=title,
                    parent_id=ids.get(parent) if parent else None,
                    description="",
                    position=position,
                    is_active=True,
                    created_at=NOW,
                    updated_at=NOW,
                )
                session.add(category)
                await session.flush()
                ids[title] = category.id
                counts[category.id] = products
                if parent:
                    counts[ids[parent]] += products
                for _ in range(products):
                    n += 1
                    product_title = f"Sencha & <b>Matcha</b> No. {n}"
                    product = Product(
                        key=f"p{n}",
                        category_id=category.id,
                        kind="physical",
                        title=product_title,
                        description="A tea for <evenings> & mornings.",
                        search_text=search_key(product_title),
                        is_active=True,
                        created_at=NOW,
                        updated_at=NOW,
                    )
                    for v, size in enumerate(("50 g", "100 g")):
                        product.variants.append(
                            Variant(
                                sku=f"S-{n}-{v}",
                                title=size,
                                price_amount=490 + 100 * n + 400 * v,
                                currency="USD",
                                stock_mode="tracked" if n % 3 else "unlimited",
                                stock_quantity=0 if n % 7 == 0 else 20,
                                position=v,
                                created_at=NOW,
                                updated_at=NOW,
                            )
                        )
                    session.add(product)
            customers = [
                (700_000_000 + i, "ru" if i % 4 == 0 else "en") for i in range(1, users + 1)
            ]
            await session.execute(
                insert(User),
                [
                    {
                        "telegram_id": telegram_id,
                        "first_name": f"Buyer <b>{telegram_id % 1000}</b> & co",
                        "username": f"buyer{telegram_id}",
                        "language_code": language,
                        "language_chosen": False,
                        "is_blocked": False,
                        "referral_code": f"r{telegram_id}",
                        "created_at": NOW,
                        "updated_at": NOW,
                    }
                    for telegram_id, language in customers
                ],
            )
    finally:
        await db.dispose()
    pages = {0: -(-n // PRODUCTS_PER_PAGE)}
    pages.update({cid: max(1, -(-count // PRODUCTS_PER_PAGE)) for cid, count in counts.items()})
    buttons = [
        ProductList(category=category, page=page).pack()
        for category, total in pages.items()
        for page in range(1, total + 1)
    ]
    return customers, buttons


# ----------------------------------------------------------------------------- processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pinned(core: int) -> Callable[[], None]:
    def pin() -> None:
        os.sched_setaffinity(0, {core})

    return pin


@dataclass
class Child:
    name: str
    process: asyncio.subprocess.Process
    port: int
    log: Path | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def status(self, key: str) -> int:
        """A kB figure from /proc/<pid>/status (VmHWM: peak resident set)."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        raise KeyError(key)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


def _open_log(log: Path | None) -> Any:
    return open(log, "wb") if log else None  # child() closes it


def _tail(log: Path | None) -> str:
    return log.read_text(errors="replace")[-3000:] if log else ""


@contextlib.asynccontextmanager
async def child(
    name: str,
    command: list[str],
    port: int,
    core: int,
    *,
    ready: Callable[[], Any],
    env: dict[str, str] | None = None,
    cwd: str | None = None,
    log: Path | None = None,
) -> AsyncIterator[Child]:
    output = _open_log(log)
    process = await asyncio.create_subprocess_exec(
        *command,
        env=env or os.environ.copy(),
        cwd=cwd,
        stdout=output,
        stderr=output,
        preexec_fn=_pinned(core),  # only sched_setaffinity, between fork and exec
    )
    running = Child(name, process, port, log)
    try:
        for _ in range(2400):  # aiogram alone takes seconds to import on a busy machine
            if process.returncode is not None:
                tail = _tail(log)
                raise RuntimeError(f"{name} exited with {process.returncode}\n{tail}")
            with contextlib.suppress(OSError):
                if await ready():
                    break
            await asyncio.sleep(0.05)
        else:
            raise RuntimeError(f"{name} did not start within 2 minutes")
        yield running
    finally:
        await running.stop()
        if output is not None:
            output.close()


def _module(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench.bot", *args]


def shop_environment(args: argparse.Namespace, database_url: str, api_url: str) -> dict[str, str]:
    """A production configuration, from environment variables only (none of ours leak in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGSHOP_")}
    env.update(
        TGSHOP_ENV="production",
        TGSHOP_LOG_LEVEL=args.log_level,
        TGSHOP_DATABASE_URL=database_url,
        TGSHOP_BOT_TOKEN=TOKEN,
        TGSHOP_TELEGRAM_API_URL=api_url,
        TGSHOP_PUBLIC_URL="https://shop.bench.invalid",
        TGSHOP_WEBHOOK_SECRET=SECRET,
        TGSHOP_MANAGER_CHAT_ID=str(MANAGER_CHAT_ID),
    )
    if args.redis_run:
        env["TGSHOP_REDIS_URL"] = args.redis_url
        env["TGSHOP_REDIS_KEY_PREFIX"] = args.redis_prefix
    return env


# ----------------------------------------------------------------------------- measuring

WHAT_IF = {
    "gc-freeze": "gc.freeze() after the imports, so full collections skip what they created",
    "pin-responses": "keep aiogram's Response[...] classes alive (pydantic caches parametrized "
    "generics weakly; aiogram looks one up on every Bot API call and, once the garbage "
    "collector dropped it, rebuilds it)",
}

# What `python -m tgshop` runs, with the time of every garbage collection added up by
# generation and printed at exit (a full collection of a process holding aiogram's ~700
# pydantic models is slow, so its pauses are worth seeing).
GC_TIMED_TGSHOP = """
import atexit, gc, sys, time
pauses = {0: [0, 0.0], 1: [0, 0.0], 2: [0, 0.0]}
began = [0.0]
def timed(phase, info):
    if phase == "start":
        began[0] = time.perf_counter()
    else:
        pause = pauses[info["generation"]]
        pause[0] += 1
        pause[1] += time.perf_counter() - began[0]
gc.callbacks.append(timed)
atexit.register(lambda: sys.stderr.write("BENCH-GC " + repr(pauses) + "\\n"))
sys.argv[0] = "tgshop"
import tgshop.runtime, tgshop.api.app, tgshop.bot.factory, tgshop.jobs.handlers
if "--what-if=pin-responses" in sys.argv:
    sys.argv.remove("--what-if=pin-responses")
    import aiogram.methods
    from aiogram.methods.base import Response, TelegramMethod
    PINNED = [
        Response[method.__dict__["__returning__"]]
        for method in vars(aiogram.methods).values()
        if isinstance(method, type) and issubclass(method, TelegramMethod)
        and method is not TelegramMethod and "__returning__" in method.__dict__
    ]
if "--what-if=gc-freeze" in sys.argv:
    sys.argv.remove("--what-if=gc-freeze")
    gc.collect()
    gc.freeze()
from tgshop.cli import main
main()
"""


class CoreMeter:
    """How busy each CPU was between two readings of /proc/stat (all processes)."""

    @staticmethod
    def read() -> dict[int, tuple[int, int]]:
        found = {}
        for line in Path("/proc/stat").read_text().splitlines():
            name, *values = line.split()
            if name.startswith("cpu") and name != "cpu":
                ticks = [int(v) for v in values]
                idle = ticks[3] + ticks[4]
                found[int(name[3:])] = (sum(ticks[:8]) - idle, sum(ticks[:8]))
        return found

    @staticmethod
    def busy(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]]) -> list[float]:
        shares = []
        for core in sorted(after):
            used = after[core][0] - before[core][0]
            total = after[core][1] - before[core][1]
            shares.append(used / total if total else 0.0)
        return shares


@dataclass
class Figure:
    name: str
    count: int
    seconds: float
    server_cpu: float  # seconds of CPU the server process used
    cores: list[float]

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def line(self, baseline: Figure | None = None) -> str:
        share = f"  {self.rate / baseline.rate:4.2f} of bare" if baseline else ""
        cores = " ".join(f"cpu{n} {busy:4.0%}" for n, busy in enumerate(self.cores))
        return (
            f"    {self.name:<26} {self.rate:7.0f} updates/s  ({self.count} in "
            f"{self.seconds:5.2f}s; server process {self.server_cpu / self.seconds:4.0%} of a "
            f"core, {self.server_cpu / self.count * 1e6:5.0f} µs CPU per update; {cores})"
            f"{share}"
        )


async def stub_counts(stub: Child) -> Counter[str]:
    status, counts = await get_json(stub.port, "/bench/counts")
    assert status == 200
    return Counter(counts)


async def measure(
    name: str,
    server: Child,
    stub: Child,
    presses: Presses,
    count: int,
    concurrency: int,
    expected: dict[str, int],
) -> Figure:
    """One run: ``count`` presses; then check the stub saw ``expected`` calls per press."""
    presses.port = server.port
    requests = presses.build(count)
    before = await stub_counts(stub)
    cpu_before, cores_before = server.cpu_seconds(), CoreMeter.read()
    seconds = await blast(server.port, requests, concurrency)
    cpu, cores = server.cpu_seconds() - cpu_before, CoreMeter.busy(cores_before, CoreMeter.read())
    calls = await stub_counts(stub)
    calls.subtract(before)
    wanted = Counter({method: per * count for method, per in expected.items()})
    seen = Counter({method: n for method, n in calls.items() if n})
    if seen != wanted:
        raise RuntimeError(
            f"{name}: {count} presses should have made {dict(wanted)} Bot API calls, the stub "
            f"saw {dict(seen)} (throttled customers or a failing handler: see the shop's log)"
        )
    return Figure(name, count, seconds, cpu, cores)


@dataclass
class Outcome:
    title: str
    bare: Figure
    shop: Figure
    peak_rss_kb: int
    bare_peak_rss_kb: int
    problems: list[str]

    @property
    def share(self) -> float:
        return self.shop.rate / self.bare.rate


def log_problems(log: Path) -> list[str]:
    """Warning and error lines of the shop's JSON log."""
    found = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            if "Traceback" in line or "Error" in line:
                found.append(line)
            continue
        if record.get("level") in ("warning", "error", "critical", "exception"):
            found.append(line)
    return found


def gc_pauses(log: Path) -> str:
    """The shop's garbage collection pauses, from the line GC_TIMED_TGSHOP writes at exit."""
    import ast

    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("BENCH-GC "):
            pauses = ast.literal_eval(line.removeprefix("BENCH-GC "))
            return ", ".join(
                f"gen{generation} {runs} × {seconds / max(runs, 1) * 1000:.1f} ms"
                for generation, (runs, seconds) in pauses.items()
            )
    return ""


async def run_backend(
    title: str,
    database_url: str,
    args: argparse.Namespace,
    stub: Child,
    bare: Child,
    workdir: Path,
) -> Outcome:
    customers, buttons = await seed(database_url, args.users)
    presses = Presses(customers, buttons)
    log = workdir / f"shop-{title.split()[0].lower()}.log"
    port = free_port()
    serve = ["serve", "--host", "127.0.0.1", "--port", str(port)]
    # `python -m tgshop serve`, plus a gc callback that adds up collection pauses.
    command = [sys.executable, "-c", GC_TIMED_TGSHOP, *serve]
    command += [f"--what-if={name}" for name in args.what_if or ()]
    if args.profile:
        command = [sys.executable, "-m", "cProfile", "-o", args.profile, "-m", "tgshop", *serve]

    registered = (await stub_counts(stub))["setWebhook"]

    async def ready() -> bool:  # serving, and done with its start-up calls to the Bot API
        status, _ = await get_json(port, "/health")
        return status == 200 and (await stub_counts(stub))["setWebhook"] > registered

    stub_url = f"http://127.0.0.1:{stub.port}"
    env = shop_environment(args, database_url, stub_url)
    async with child(
        "the shop", command, port, SHOP_CORE, ready=ready, env=env, cwd=str(workdir), log=log
    ) as shop:
        shop_calls = {"answerCallbackQuery": 1, "editMessageText": 1}
        bare_calls = {"answerCallbackQuery": 1}
        warm = min(args.updates, 500)
        await measure("warm-up", shop, stub, presses, warm, args.concurrency, shop_calls)
        await measure("warm-up", bare, stub, presses, warm, args.concurrency, bare_calls)
        best: dict[str, Figure] = {}
        print(f"\n{title}:")
        for round_ in range(1, args.rounds + 1):
            order = [("bare", bare, bare_calls), ("shop", shop, shop_calls)]
            if round_ % 2 == 0:
                order.reverse()
            for name, server, calls in order:
                label = "bare aiogram" if name == "bare" else "tgshop"
                figure = await measure(
                    f"round {round_}: {label}",
                    server,
                    stub,
                    presses,
                    args.updates,
                    args.concurrency,
                    calls,
                )
                print(figure.line())
                if name not in best or figure.rate > best[name].rate:
                    best[name] = figure
        peak, bare_peak = shop.status("VmHWM"), bare.status("VmHWM")
        most = max(presses.per_customer.values())
    problems = log_problems(log)
    collections = gc_pauses(log)
    outcome = Outcome(title, best["bare"], best["shop"], peak, bare_peak, problems)
    print(f"  best of {args.rounds} rounds:")
    best["bare"].name, best["shop"].name = "bare aiogram (baseline)", "tgshop"
    print(best["bare"].line())
    print(best["shop"].line(best["bare"]))
    print(
        f"  peak RSS (VmHWM): tgshop {peak / 1024:.0f} MB, bare aiogram {bare_peak / 1024:.0f} MB"
        f"; at most {most} presses per customer in the whole run"
    )
    if collections:
        print(f"  garbage collection in the shop over its whole life: {collections}")
    if problems:
        print(f"  the shop logged {len(problems)} warnings/errors ({log}); the first ones:")
        for line in problems[:5]:
            print(f"    {line[:400]}")
    else:
        print("  the shop logged no warnings or errors")
    if args.breakdown:
        await breakdown(database_url, args, stub_url)
    return outcome


async def breakdown(database_url: str, args: argparse.Namespace, stub_url: str) -> None:
    """CPU per step of a press, each step alone and in turn, in this process, through the
    production wiring (``build_container``): where the server's time per update goes."""
    from aiogram.fsm.storage.base import StorageKey
    from aiogram.types import Update
    from pydantic import SecretStr
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from tgshop.app import build_container
    from tgshop.bot.dedup import DatabaseDeduplicator, RedisDeduplicator
    from tgshop.bot.factory import build_bot
    from tgshop.bot.fsm_storage import build_fsm_storage
    from tgshop.bot.routers.catalog import CatalogScreens
    from tgshop.config import load_settings
    from tgshop.services.catalog import CatalogService, ProductQuery
    from tgshop.services.users import TelegramUserData

    redis = {"url": args.redis_url, "key_prefix": args.redis_prefix} if args.redis_run else {}
    settings = load_settings(
        database={"url": SecretStr(database_url)},
        redis=redis,
        telegram={"bot_token": SecretStr(TOKEN), "telegram_api_url": stub_url},
    )
    container = build_container(settings)
    bot = build_bot(settings.telegram)
    dedup: Any = (
        RedisDeduplicator(container.redis, args.redis_prefix)
        if container.redis is not None
        else DatabaseDeduplicator(container.db, container.clock)
    )
    storage = build_fsm_storage(container)
    screens = CatalogScreens(container.catalog)
    # The same reads without the catalog's memory (TGSHOP_SHOP_CATALOG_CACHE_SECONDS=0): what
    # a press costs when its entries have expired. The steps above them are all memory hits.
    uncached = CatalogService(container.db)
    uncached_screens = CatalogScreens(uncached)
    t = container.translator.get("en")
    category = 2  # "Green tea": 10 products, 2 pages
    presses = Presses([(700_000_001, "en")], [f"pl:{category}:1"])
    body = presses.build(1)[0].split(b"\r\n\r\n", 1)[1]
    shown = await screens.products(t, category, 1)
    assert shown is not None
    ids = iter(range(10**9, 2 * 10**9))
    person = TelegramUserData(700_000_001, "Buyer <b>1</b> & co", None, "buyer1", "en")
    key = StorageKey(bot_id=BOT_ID, chat_id=700_000_001, user_id=700_000_001)
    url = make_url(database_url)

    async def raw_driver() -> Callable[[], Any]:
        if url.get_backend_name() == "sqlite":
            import aiosqlite

            connection = await aiosqlite.connect(str(url.database))

            async def select_one() -> None:
                async with connection.execute("SELECT 1") as cursor:
                    await cursor.fetchone()

            closers.append(connection.close)
            return select_one
        import asyncpg

        dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
        pg = await asyncpg.connect(dsn)
        closers.append(pg.close)

        async def fetch_one() -> None:
            await pg.fetchval("SELECT 1")

        return fetch_one

    async def round_trip() -> None:
        async with container.db.engine.connect() as connection:
            (await connection.execute(text("SELECT 1"))).scalar_one()

    closers: list[Callable[[], Any]] = []
    steps: list[tuple[str, Callable[[], Any]]] = [
        ("parse the Update (pydantic)", lambda: _parse(Update, body, bot)),
        ("de-duplication mark", lambda: dedup.first_time(BOT_ID, next(ids))),
        ("FSM state read", lambda: storage.get_state(key)),
        ("onboarding upsert", lambda: container.users.onboard(person)),
        ("  category tree", container.catalog.categories_tree),
        (
            "  page of products",
            lambda: container.catalog.list_products(
                ProductQuery(category_id=category, page=1, per_page=8)
            ),
        ),
        ("screen: tree + page + text + keyboard", lambda: screens.products(t, category, 1)),
        ("  category tree, no catalog memory", uncached.categories_tree),
        (
            "  page of products, no catalog memory",
            lambda: uncached.list_products(ProductQuery(category_id=category, page=1, per_page=8)),
        ),
        ("  screen, no catalog memory", lambda: uncached_screens.products(t, category, 1)),
        ("answerCallbackQuery (aiogram → stub)", lambda: bot.answer_callback_query("1")),
        (
            "editMessageText (aiogram → stub)",
            lambda: bot.edit_message_text(
                shown[0], chat_id=700_000_001, message_id=1, reply_markup=shown[1]
            ),
        ),
        ("reference: SQLAlchemy connect + SELECT 1", round_trip),
        ("reference: raw driver SELECT 1", await raw_driver()),
    ]
    print("  CPU per step, each alone and in turn (this process, 300 calls after 30):")
    total = 0.0
    try:
        for name, step in steps:
            for _ in range(30):
                await step()
            started = time.process_time()
            for _ in range(300):
                await step()
            micros = (time.process_time() - started) / 300 * 1e6
            if not name.startswith(("  ", "reference")):
                total += micros
            print(f"    {name:<42} {micros:7.0f} µs")
        print(f"    {'sum of the unindented steps':<42} {total:7.0f} µs")
    finally:
        for close in closers:
            await close()
        await bot.session.close()
        await container.close()


async def _parse(update: Any, body: bytes, bot: Any) -> None:
    update.model_validate(json.loads(body), context={"bot": bot})


def verdict(outcome: Outcome) -> str:
    checks = [
        (outcome.share >= TARGET_SHARE, f"share {outcome.share:.2f} ≥ {TARGET_SHARE}"),
        (outcome.shop.rate >= TARGET_RATE, f"{outcome.shop.rate:.0f} ≥ {TARGET_RATE} updates/s"),
        (
            outcome.peak_rss_kb / 1024 < TARGET_RSS_MB,
            f"peak RSS {outcome.peak_rss_kb / 1024:.0f} MB < {TARGET_RSS_MB} MB",
        ),
    ]
    parts = [f"{'met' if ok else 'MISSED'}: {text}" for ok, text in checks]
    return f"  {outcome.title}: " + "; ".join(parts)


def describe_setup(args: argparse.Namespace) -> str:
    import aiogram
    import uvicorn

    return (
        f"customer bot benchmark: {args.updates} catalog button presses per run, "
        f"{args.concurrency} in flight, from {args.users} customers; best of {args.rounds} "
        f"alternating rounds after a warm-up\n"
        f"  Python {platform.python_version()}, aiogram {aiogram.__version__}, uvicorn "
        f"{uvicorn.__version__} with httptools and uvloop; {os.cpu_count()} CPUs: the server "
        f"under test pinned to cpu{SHOP_CORE}, this load generator and the stub Bot API to "
        f"cpu{LOAD_CORE}\n"
        f"  the shop: `python -m tgshop serve` with TGSHOP_ENV=production, "
        f"TGSHOP_LOG_LEVEL={args.log_level} (JSON lines to a file), outbox worker in-process, "
        f"default pool; baseline: bare aiogram Dispatcher + Starlette route, one handler "
        f"answering the callback"
        + (
            "\n  PROFILING: the shop runs under cProfile, figures are not comparable"
            * bool(args.profile)
        )
        + "".join(
            f"\n  WHAT-IF (not the shop as it is): {name} — {WHAT_IF[name]}"
            for name in args.what_if or ()
        )
    )


@contextlib.asynccontextmanager
async def database(kind: str, args: argparse.Namespace, workdir: Path) -> AsyncIterator[str]:
    from tests.support import databases

    if kind == "sqlite":
        yield databases.sqlite_url(workdir, "shop.db")
        return
    url = await databases.create_postgres_database()
    try:
        yield url
    finally:
        await databases.drop_postgres_database(url)


async def forget_redis_keys(url: str, prefix: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=1000)]
        for start in range(0, len(keys), 1000):
            await client.delete(*keys[start : start + 1000])
    finally:
        await client.aclose()


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--updates", type=int, default=2_000, help="presses per run")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; best kept")
    parser.add_argument("--users", type=int, default=5_000, help="customers pressing in turn")
    parser.add_argument("--postgres-url", default=None, help="server to create a database on")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument("--redis-url", default=None, help="also run with Redis (PostgreSQL)")
    parser.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    parser.add_argument(
        "--what-if",
        action="append",
        choices=list(WHAT_IF),
        help="measure the shop with a change it does not have (repeatable): "
        + "; ".join(f"{name}: {text}" for name, text in WHAT_IF.items()),
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="also time each step of a press in-process"
    )
    parser.add_argument(
        "--profile", type=os.path.abspath, help="run the shop under cProfile, write the stats here"
    )
    args = parser.parse_args()
    if (os.cpu_count() or 1) < 2:
        sys.exit("this benchmark pins the shop and the load to different cores: needs 2 CPUs")
    os.sched_setaffinity(0, {LOAD_CORE})
    from tests.support import databases

    if args.postgres_url:
        os.environ["TGSHOP_TEST_POSTGRES_URL"] = args.postgres_url
    args.redis_run = False
    args.redis_prefix = f"bench-{secrets.token_hex(4)}"
    print(describe_setup(args))

    runs: list[tuple[str, str]] = []
    if not args.skip_sqlite:
        runs.append(("SQLite", "sqlite"))
    if not args.skip_postgres:
        reason = await databases.postgres_unavailable_reason()
        if reason:
            print(f"PostgreSQL: skipped — {reason}")
        else:
            runs.append(("PostgreSQL", "postgres"))
            if args.redis_url:
                runs.append(("PostgreSQL + Redis", "postgres"))

    workdir = Path(tempfile.mkdtemp(prefix="tgshop-bench-bot-"))
    outcomes: list[Outcome] = []
    stub_port, bare_port = free_port(), free_port()

    async def stub_ready() -> bool:
        return (await get_json(stub_port, "/bench/counts"))[0] == 200

    async def bare_ready() -> bool:
        connection = await connect(bare_port)
        assert connection.transport is not None
        connection.transport.close()
        return True

    stub_url = f"http://127.0.0.1:{stub_port}"
    try:
        async with (
            child(
                "the stub Bot API",
                _module("--serve", "stub", "--port", str(stub_port)),
                stub_port,
                LOAD_CORE,
                ready=stub_ready,
            ) as stub,
            child(
                "the bare aiogram webhook",
                _module("--serve", "bare", "--port", str(bare_port), "--api", stub_url),
                bare_port,
                SHOP_CORE,
                ready=bare_ready,
            ) as bare,
        ):
            for title, kind in runs:
                args.redis_run = "Redis" in title
                try:
                    async with database(kind, args, workdir) as url:
                        outcomes.append(await run_backend(title, url, args, stub, bare, workdir))
                finally:
                    if args.redis_run:
                        await forget_redis_keys(args.redis_url, args.redis_prefix)
    finally:
        if not args.profile:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"\nlogs kept in {workdir}")
    print(
        "\ntargets (issue 'The customer bot': ≥ 0.6 of bare, ≥ 600 updates/s, peak RSS < 200 MB):"
    )
    for outcome in outcomes:
        print(verdict(outcome))
    if args.profile:
        import pstats

        print(f"\nprofile of the shop's main thread ({args.profile}), by own time:")
        pstats.Stats(args.profile).sort_stats("tottime").print_stats(30)


def _serve_child(argv: list[str]) -> None:
    serve = argparse.ArgumentParser()
    serve.add_argument("--serve", choices=["stub", "bare"], required=True)
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--api")
    served = serve.parse_args(argv)
    if served.serve == "stub":
        serve_stub(served.port)
    else:
        serve_bare(served.port, served.api)


if __name__ == "__main__":
    if "--serve" in sys.argv:
        _serve_child(sys.argv[1:])
    else:
        import uvloop

        uvloop.run(main())  # the load generator: the cheaper loop leaves the stub more CPU
