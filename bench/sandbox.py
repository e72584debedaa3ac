"""Sandbox throughput: Bot API calls per second it serves, updates per second it delivers.

How it measures:
- servers run under uvicorn with its defaults, as the tests and ``tgshop demo`` run them: the
  h11 HTTP parser and the asyncio loop, because httptools and uvloop are not dependencies
  (uvicorn picks them up in the server process when they are installed; the first line
  says which were used);
- **separate processes** (the main figures): the server under test runs in a child process
  of its own, the load generator and the webhook receiver in this one, so on a 2-core
  machine each side has a core; **one process** (``--setup both``): everything shares one
  event loop, the way the test-suite runs the sandbox;
- Bot API calls: ``--clients`` concurrent clients (aiohttp, keep-alive connections) make
  ``--calls`` calls of ``getMe`` (GET) and of ``sendMessage`` (POST JSON, HTML parse mode,
  spread over ``--users`` private chats; flood limits off) after a warm-up; every answer is
  checked for status 200 and ``"ok":true``;
- **baseline** for calls: a bare Starlette route answering the same JSON bytes (and reading
  the request body) under the same uvicorn setup, hit by the same clients;
- updates: a bare Starlette endpoint answering 200 is the webhook (served by uvicorn in
  this process); the sandbox's setWebhook points at it (max_connections 40, Telegram's
  default); ``--users`` people each send ``--messages`` texts, either generated inside the
  sandbox process (its own action code, no HTTP) or sent through the control API by
  ``--clients`` concurrent clients; the figure is updates received per second from the
  first message until the receiver holds all of them, and per-chat order is checked;
- **baseline** for updates: a bare sender in a child process POSTs the same number of
  update bodies to the same receiver with 40 requests in flight (aiohttp, as the
  sandbox's delivery does) — what one process can push through this receiver at all.

- bare and sandbox runs alternate for ``--rounds`` rounds and the best of each is shown, so
  other load on the machine hits both alike.

Usage: python -m bench.sandbox [--setup separate|inprocess|both] [--calls 20000]
       [--clients 32] [--users 200] [--messages 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import re
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import aiohttp
import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tgshop.sandbox import actions
from tgshop.sandbox.core import Sandbox
from tgshop.sandbox.runner import serving
from tgshop.sandbox.server import create_sandbox_app

TOKEN = "4242424242:AAFsandboxBenchTokenThatLooksReal_123"
WEBHOOK_CONNECTIONS = 40
SEND_TEXT = "Order <b>#1042</b> is paid: 2 × Sencha, <i>thank you!</i>"


# ----------------------------------------------------------------------------- the servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def sandbox_app() -> Starlette:
    """The sandbox with one bot, flood limits off, and two bench-only routes."""
    sandbox = Sandbox()
    sandbox.limits.enabled = False
    bot = sandbox.add_bot(TOKEN, username="bench_bot", first_name="Bench Shop")
    app = create_sandbox_app(sandbox)

    async def people(request: Request) -> Response:
        """Create people who wrote to the bot (private chats exist), without updates."""
        count = int((await request.json())["users"])
        ids = []
        for n in range(count):
            user = sandbox.add_user(f"Buyer {n}")
            sandbox.private_chat(bot, user)
            ids.append(user.id)
        return JSONResponse(ids)

    async def generate(request: Request) -> Response:
        """Every person sends ``messages`` texts, round-robin, through the action code."""
        data = await request.json()
        started = time.perf_counter()
        for m in range(int(data["messages"])):
            for user_id in data["user_ids"]:
                await actions.send_text(sandbox, bot, sandbox.user(user_id), f"message {m}")
        return JSONResponse({"seconds": time.perf_counter() - started})

    app.router.routes.append(Route("/bench/people", people, methods=["POST"]))
    app.router.routes.append(Route("/bench/generate", generate, methods=["POST"]))
    return app


def bare_app(answers: dict[str, bytes]) -> Starlette:
    """The least a Bot API server can do: route, read the body, answer fixed JSON; and a
    bare webhook sender for the delivery baseline."""

    async def endpoint(request: Request) -> Response:
        await request.body()
        body = answers.get(request.path_params["method"].lower())
        if body is None:
            return Response(b'{"ok":false,"error_code":404,"description":"Not Found"}', 404)
        return Response(body, media_type="application/json")

    async def blast(request: Request) -> Response:
        data = await request.json()
        updates = [
            {"update_id": n + 1, "message": dict(data["message"], message_id=n + 1)}
            for n in range(int(data["count"]))
        ]
        queue = iter(updates)
        # The same client and pool size as the sandbox's webhook delivery.
        connector = aiohttp.TCPConnector(limit=200)
        async with aiohttp.ClientSession(connector=connector) as http:

            async def sender() -> None:
                for update in queue:
                    body = json.dumps(update, ensure_ascii=False, separators=(",", ":"))
                    headers = {"Content-Type": "application/json"}
                    async with http.post(data["url"], data=body, headers=headers) as response:
                        await response.read()
                        response.raise_for_status()

            await asyncio.gather(*(sender() for _ in range(WEBHOOK_CONNECTIONS)))
        return JSONResponse(True)

    return Starlette(
        routes=[
            Route("/bot{token}/{method}", endpoint, methods=["GET", "POST"]),
            Route("/bench/blast", blast, methods=["POST"]),
        ]
    )


def serve_forever(kind: str, port: int, answers_json: str | None) -> None:
    """Child-process entry: serve one app on ``port`` until killed."""
    app = sandbox_app() if kind == "sandbox" else bare_app(_decode(answers_json or "{}"))
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_config=None, access_log=False, lifespan="on"
    )
    uvicorn.Server(config).run()  # picks uvloop when installed, like ``uvicorn`` itself


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _decode(answers_json: str) -> dict[str, bytes]:
    return {k: v.encode() for k, v in json.loads(answers_json).items()}


@contextlib.asynccontextmanager
async def child_server(kind: str, answers: dict[str, bytes] | None = None) -> AsyncIterator[str]:
    port = free_port()
    command = [sys.executable, "-m", "bench.sandbox", "--serve", kind, "--port", str(port)]
    if answers is not None:
        command += ["--answers", json.dumps({k: v.decode() for k, v in answers.items()})]
    process = await asyncio.create_subprocess_exec(*command, env=os.environ.copy())
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as http:
            for _ in range(300):
                if process.returncode is not None:
                    raise RuntimeError(f"the {kind} server exited with {process.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    await http.get(f"{url}/bot{TOKEN}/getMe")
                    break
                await asyncio.sleep(0.05)
        yield url
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 10)


@contextlib.asynccontextmanager
async def local_server(kind: str, answers: dict[str, bytes] | None = None) -> AsyncIterator[str]:
    app = sandbox_app() if kind == "sandbox" else bare_app(answers or {})
    async with serving(app) as url:
        yield url


# ----------------------------------------------------------------------------- measuring


@dataclass
class Figure:
    name: str
    count: int
    seconds: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.count / self.seconds

    def line(self, baseline: Figure | None = None) -> str:
        share = f"  {self.rate / baseline.rate:5.0%} of bare" if baseline else ""
        note = f"  ({self.note})" if self.note else ""
        return (
            f"    {self.name:<40} {self.rate:8.0f}/s  {self.count} in {self.seconds:5.2f}s"
            f"{share}{note}"
        )


async def drive(clients: int, total: int, one: Callable[[int], Awaitable[None]]) -> float:
    queue = iter(range(total))

    async def client() -> None:
        for n in queue:
            await one(n)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - started


async def api_calls(url: str, method: str, calls: int, clients: int, user_ids: list[int]) -> Figure:
    connector = aiohttp.TCPConnector(limit=clients)
    endpoint = f"{url}/bot{TOKEN}/{method}"
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one(n: int) -> None:
            if method == "getMe":
                response = await http.get(endpoint)
            else:
                body = {
                    "chat_id": user_ids[n % len(user_ids)],
                    "text": SEND_TEXT,
                    "parse_mode": "HTML",
                }
                response = await http.post(endpoint, json=body)
            async with response:
                data = await response.read()
                if response.status != 200 or not data.startswith(b'{"ok":true'):
                    raise RuntimeError(f"{method} answered {response.status}: {data[:200]!r}")

        await drive(clients, min(1000, calls), one)  # warm-up: connections, caches
        seconds = await drive(clients, calls, one)
    return Figure(method, calls, seconds)


async def wrk_calls(url: str, method: str, user_id: int, seconds: int = 5) -> Figure | None:
    """The same calls driven by wrk (C, one thread, 32 connections): a Python load generator
    on a 2-core machine takes half the CPU from the server it measures; wrk takes little."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        if method == "sendMessage":
            body = json.dumps(
                {"chat_id": user_id, "text": SEND_TEXT, "parse_mode": "HTML"}, ensure_ascii=False
            )
            script.write(
                'wrk.method = "POST"\n'
                'wrk.headers["Content-Type"] = "application/json"\n'
                f"wrk.body = [[{body}]]\n"
            )
    try:
        process = await asyncio.create_subprocess_exec(
            wrk,
            "-t1",
            "-c32",
            f"-d{seconds}s",
            "-s",
            script.name,
            f"{url}/bot{TOKEN}/{method}",
            stdout=asyncio.subprocess.PIPE,
        )
        output = (await process.communicate())[0].decode()
    finally:
        os.unlink(script.name)
    if "Non-2xx" in output:
        raise RuntimeError(f"wrk saw errors from {method}:\n{output}")
    total = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    elapsed = float(re.search(r"requests in ([\d.]+)s", output).group(1))  # type: ignore[union-attr]
    return Figure(f"{method} (wrk)", total, elapsed)


class Receiver:
    """The trivial webhook: answers 200 and counts; checks per-chat order."""

    def __init__(self) -> None:
        self.expected = 0
        self.received = 0
        self.done = asyncio.Event()
        self.last: dict[int, int] = {}
        self.out_of_order = 0

    def expect(self, count: int) -> None:
        self.expected, self.received, self.out_of_order = count, 0, 0
        self.last.clear()
        self.done.clear()

    async def handle(self, request: Request) -> Response:
        update = json.loads(await request.body())
        chat = update["message"]["chat"]["id"]
        if update["update_id"] < self.last.get(chat, 0):
            self.out_of_order += 1
        self.last[chat] = update["update_id"]
        self.received += 1
        if self.received >= self.expected:
            self.done.set()
        return Response(status_code=200)


async def wait_received(receiver: Receiver, started: float) -> float:
    try:
        await asyncio.wait_for(receiver.done.wait(), 120)
    except TimeoutError:
        raise RuntimeError(
            f"the receiver got {receiver.received} of {receiver.expected} updates"
        ) from None
    return time.perf_counter() - started


async def updates_generated(
    http: httpx.AsyncClient, url: str, receiver: Receiver, user_ids: list[int], messages: int
) -> Figure:
    receiver.expect(len(user_ids) * messages)
    started = time.perf_counter()
    answer = await http.post(
        f"{url}/bench/generate", json={"user_ids": user_ids, "messages": messages}
    )
    answer.raise_for_status()
    seconds = await wait_received(receiver, started)
    return Figure(
        "updates, generated in the sandbox",
        receiver.expected,
        seconds,
        f"generating took {answer.json()['seconds']:.2f}s; "
        f"{receiver.out_of_order} out of per-chat order",
    )


async def updates_via_control(
    url: str, receiver: Receiver, user_ids: list[int], messages: int, clients: int
) -> Figure:
    total = len(user_ids) * messages
    receiver.expect(total)
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def one(n: int) -> None:
            user_id = user_ids[n % len(user_ids)]
            async with http.post(
                f"{url}/sandbox/api/users/{user_id}/send", json={"text": f"message {n}"}
            ) as response:
                if response.status != 200:
                    raise RuntimeError(f"control API answered {response.status}")

        started = time.perf_counter()
        sent = await drive(clients, total, one)
        seconds = await wait_received(receiver, started)
    return Figure(
        "updates, sent via the control API",
        total,
        seconds,
        f"{clients} clients sent them in {sent:.2f}s; {receiver.out_of_order} out of order",
    )


async def updates_bare(
    http: httpx.AsyncClient, url: str, hook: str, receiver: Receiver, count: int
) -> Figure:
    receiver.expect(count)
    message = {
        "message_id": 1,
        "from": {"id": 100000001, "is_bot": False, "first_name": "Buyer 0"},
        "chat": {"id": 100000001, "type": "private", "first_name": "Buyer 0"},
        "date": int(time.time()),
        "text": "message 0",
    }
    started = time.perf_counter()
    answer = await http.post(
        f"{url}/bench/blast", json={"url": hook, "count": count, "message": message}
    )
    answer.raise_for_status()
    seconds = await wait_received(receiver, started)
    return Figure("updates, bare sender (baseline)", count, seconds)


# ----------------------------------------------------------------------------- a setup


Answers = dict[str, bytes] | None
ServerFactory = Callable[[str, Answers], contextlib.AbstractAsyncContextManager[str]]


async def run_setup(title: str, server: ServerFactory, args: argparse.Namespace) -> None:
    print(f"\n{title}:")
    receiver = Receiver()
    hook_app = Starlette(routes=[Route("/hook", receiver.handle, methods=["POST"])])
    async with (
        httpx.AsyncClient(timeout=120) as http,
        serving(hook_app) as hook_base,
        server("sandbox", None) as url,
    ):
        hook = f"{hook_base}/hook"
        user_ids = (await http.post(f"{url}/bench/people", json={"users": args.users})).json()
        # The bare server answers byte for byte what the sandbox answers.
        me = (await http.get(f"{url}/bot{TOKEN}/getMe")).content
        sent = (
            await http.post(
                f"{url}/bot{TOKEN}/sendMessage",
                json={"chat_id": user_ids[0], "text": SEND_TEXT, "parse_mode": "HTML"},
            )
        ).content
        answers = {"getme": me, "sendmessage": sent}

        best: dict[str, Figure] = {}

        def keep(key: str, figure: Figure) -> None:
            if key not in best or figure.rate > best[key].rate:
                best[key] = figure

        total = args.users * args.messages
        await http.post(
            f"{url}/bot{TOKEN}/setWebhook",
            json={"url": hook, "max_connections": WEBHOOK_CONNECTIONS},
        )
        async with server("bare", answers) as bare_url:
            # Bare and sandbox alternate, best of --rounds: other load on the machine hits
            # both alike instead of skewing one of them.
            for _ in range(args.rounds):
                for method in ("getMe", "sendMessage"):
                    figure = await api_calls(bare_url, method, args.calls, args.clients, user_ids)
                    figure.name = f"{method}, bare Starlette (baseline)"
                    keep(f"bare {method}", figure)
                    keep(method, await api_calls(url, method, args.calls, args.clients, user_ids))
                    if server is child_server:
                        bare_wrk = await wrk_calls(bare_url, method, user_ids[0])
                        sandbox_wrk = await wrk_calls(url, method, user_ids[0])
                        if bare_wrk is not None and sandbox_wrk is not None:
                            bare_wrk.name = f"{method} (wrk), bare Starlette (baseline)"
                            keep(f"wrk bare {method}", bare_wrk)
                            keep(f"wrk {method}", sandbox_wrk)
                keep("bare updates", await updates_bare(http, bare_url, hook, receiver, total))
                keep(
                    "generated",
                    await updates_generated(http, url, receiver, user_ids, args.messages),
                )
                keep(
                    "control",
                    await updates_via_control(url, receiver, user_ids, args.messages, args.clients),
                )
        print(f"  Bot API calls (best of {args.rounds} rounds):")
        for method in ("getMe", "sendMessage"):
            print(best[f"bare {method}"].line())
            print(best[method].line(best[f"bare {method}"]))
        if "wrk getMe" in best:
            print(f"  Bot API calls driven by wrk (best of {args.rounds} rounds):")
            for method in ("getMe", "sendMessage"):
                print(best[f"wrk bare {method}"].line())
                print(best[f"wrk {method}"].line(best[f"wrk bare {method}"]))
        elif server is child_server:
            print(
                "  (wrk not installed: apt-get install wrk for a load generator that leaves the"
                " server a whole core)"
            )
        print(f"  Updates delivered to a webhook (best of {args.rounds} rounds):")
        print(best["bare updates"].line())
        print(best["generated"].line(best["bare updates"]))
        print(best["control"].line(best["bare updates"]))


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--setup", choices=["separate", "inprocess", "both"], default="both")
    parser.add_argument("--calls", type=int, default=20_000, help="calls per method")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients")
    parser.add_argument("--users", type=int, default=200, help="people sending messages")
    parser.add_argument("--messages", type=int, default=20, help="messages per person")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; best kept")
    args = parser.parse_args()
    print(
        f"sandbox benchmark: {args.calls} calls per method from {args.clients} clients; "
        f"{args.users} people x {args.messages} messages to a webhook "
        f"(max_connections {WEBHOOK_CONNECTIONS}); uvicorn {uvicorn.__version__} with "
        f"{'httptools' if _installed('httptools') else 'h11'} and "
        f"{'uvloop' if _installed('uvloop') else 'asyncio'} in the server process; "
        f"{os.cpu_count()} CPUs"
    )
    if args.setup in ("separate", "both"):
        await run_setup(
            "separate processes (server in a child process; clients and webhook here)",
            child_server,
            args,
        )
    if args.setup in ("inprocess", "both"):
        await run_setup("one process, one event loop (as in the tests)", local_server, args)


if __name__ == "__main__":
    if "--serve" in sys.argv:
        serve = argparse.ArgumentParser()
        serve.add_argument("--serve", choices=["sandbox", "bare"], required=True)
        serve.add_argument("--port", type=int, required=True)
        serve.add_argument("--answers")
        served = serve.parse_args()
        serve_forever(served.serve, served.port, served.answers)
    else:
        asyncio.run(main())
