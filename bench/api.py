"""Mini App API throughput and latency on one core: the product list and an authenticated
cart read, against a bare FastAPI endpoint measured in the same run.

How it measures:
- **the shop under test** is ``tgshop serve`` (what ``python -m tgshop serve`` runs) in a
  child process pinned to one core, configured by environment variables the way a
  deployment is: ``TGSHOP_ENV=production`` (JSON logs, one access line per request, to a
  file), the outbox worker in the process, the default pool, no Redis, the rate limits on
  (set high enough for one address to send the whole load, so each request still pays for
  its counters). Telegram is bench/bot.py's stub Bot API (the shop registers its webhook at
  start); the API itself calls nothing outside;
- **the database**: bench/bot.py's catalog (6 categories, 40 products with two variants
  each) and ``--users`` customers, in a fresh SQLite file or a PostgreSQL database created on
  the local server and dropped afterwards; each customer has two lines in the cart;
- **product list**: ``GET /api/v1/products`` over every category and first page, ``limit``
  20 — served, as in production, from the shop's 5-second catalog memory except when an
  entry has expired; every answer must be 200 with products;
- **authenticated cart read**: ``GET /api/v1/cart`` with ``Authorization: tma <initData>``,
  initData signed with the bot token (init-data-py's signer), one per customer in turn, the
  way a returning customer's open Mini App asks (the warm-up has seen every customer once):
  the launch data check, onboarding, the rate-limit counters and the cart, with the shop's
  default memories (checked launch data, customers for 60 s, cart lines for 60 s, prices and
  stock for 5 s: docs/configuration.md). Every answer must be 200;
- **the same with the memories off** (``TGSHOP_SHOP_CART_CACHE_SECONDS=0``,
  ``TGSHOP_CUSTOMER_CACHE_SECONDS=0``), in a second shop process: every request reads the
  customer and the cart from the database, as a first visit or a changed cart does;
- **baseline**: a bare FastAPI app (no tgshop import) with one route returning a fixed list
  of 20 products shaped like ours, under the same uvicorn setup (httptools, uvloop, access
  log off) on the same pinned core;
- the load generator (this process, on the other core) keeps ``--concurrency`` requests in
  flight over raw HTTP/1.1 keep-alive connections and times each request: requests per
  second and the 50th/99th percentile latency are printed; bare and shop alternate for
  ``--rounds`` rounds and the best round of each is kept.

Targets (issue "Mini App storefront"): product list ≥ 0.5 of the bare figure and ≥ 2,500
requests/s; authenticated cart ≥ 1,500 requests/s.

Usage: python -m bench.api [--requests 5000] [--concurrency 32] [--rounds 3] [--users 2000]
       [--skip-sqlite] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.bot import (
    LOAD_CORE,
    SECRET,
    SHOP_CORE,
    TOKEN,
    Child,
    CoreMeter,
    blast,
    child,
    connect,
    database,
    free_port,
    get_json,
    http_request,
    log_problems,
    run_bare,
    seed,
)

TARGET_SHARE, TARGET_LIST, TARGET_CART = 0.5, 2500, 1500


def serve_bare(port: int) -> None:
    """Child-process entry: the least a product-list endpoint is, under the same uvicorn."""
    from fastapi import FastAPI

    products = [
        {
            "id": n,
            "key": f"p{n}",
            "title": f"Sencha & <b>Matcha</b> No. {n}",
            "kind": "physical",
            "category_id": 2,
            "price_from": {"amount": 490 + 100 * n, "currency": "USD", "display": "5.90 USD"},
            "in_stock": True,
            "image_url": None,
        }
        for n in range(1, 21)
    ]
    app = FastAPI()

    @app.get("/api/v1/products")
    async def listing() -> dict[str, Any]:
        return {"items": products, "total": 40, "next_cursor": "cDI"}

    run_bare(app, port)


@dataclass
class Figure:
    name: str
    latencies: list[float]
    seconds: float
    server_cpu: float
    cores: list[float]

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def line(self, baseline: Figure | None = None) -> str:
        share = f"  {self.rate / baseline.rate:4.2f} of bare" if baseline else ""
        cores = " ".join(f"cpu{n} {busy:4.0%}" for n, busy in enumerate(self.cores))
        return (
            f"    {self.name:<30} {self.rate:7.0f} requests/s  p50 "
            f"{self.percentile(0.5) * 1000:5.1f} ms  p99 {self.percentile(0.99) * 1000:5.1f} ms"
            f"  ({len(self.latencies)} in {self.seconds:5.2f}s; server "
            f"{self.server_cpu / self.seconds:4.0%} of a core; {cores}){share}"
        )


async def measure(name: str, server: Child, requests: list[bytes], concurrency: int) -> Figure:
    cpu_before, cores_before = server.cpu_seconds(), CoreMeter.read()
    latencies: list[float] = []
    seconds = await blast(server.port, requests, concurrency, latencies)
    cpu = server.cpu_seconds() - cpu_before
    return Figure(name, latencies, seconds, cpu, CoreMeter.busy(cores_before, CoreMeter.read()))


def init_data(telegram_id: int, language: str) -> str:
    from init_data_py import sign

    user = json.dumps(
        {"id": telegram_id, "first_name": f"Buyer {telegram_id % 1000}", "language_code": language},
        separators=(",", ":"),
    )
    return sign({"query_id": f"AAH{telegram_id}", "user": user}, TOKEN)


async def fill_carts(url: str, customers: list[tuple[int, str]]) -> None:
    """Two lines in every customer's cart (what a cart read then prices)."""
    from sqlalchemy import select
    from tests.support import databases

    from tgshop.db.models import Cart, CartItem, User, Variant

    db = databases.database_for(url)
    try:
        async with db.transaction() as session:
            variants = list((await session.execute(select(Variant.id).limit(8))).scalars())
            users = {
                tid: uid for tid, uid in await session.execute(select(User.telegram_id, User.id))
            }
            now = datetime.now(UTC)
            for n, (telegram_id, _) in enumerate(customers):
                cart = Cart(user_id=users[telegram_id], created_at=now, updated_at=now)
                session.add(cart)
                await session.flush()
                for variant in (variants[n % 8], variants[(n + 3) % 8]):
                    session.add(
                        CartItem(
                            cart_id=cart.id,
                            variant_id=variant,
                            quantity=1 + n % 3,
                            created_at=now,
                            updated_at=now,
                        )
                    )
    finally:
        await db.dispose()


def environment(database_url: str, stub_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TGSHOP_")}
    env.update(
        TGSHOP_ENV="production",
        TGSHOP_LOG_LEVEL="INFO",
        TGSHOP_DATABASE_URL=database_url,
        TGSHOP_BOT_TOKEN=TOKEN,
        TGSHOP_TELEGRAM_API_URL=stub_url,
        TGSHOP_PUBLIC_URL="https://shop.bench.invalid",
        TGSHOP_WEBHOOK_SECRET=SECRET,
        TGSHOP_MANAGER_CHAT_ID="-1001234567890",
        TGSHOP_API_RATE_LIMIT_IP="100000000/minute",
        TGSHOP_API_RATE_LIMIT_USER="100000000/minute",
    )
    return env


async def run_backend(
    title: str, url: str, args: argparse.Namespace, bare: Child, stub_url: str, workdir: Path
) -> dict[str, Figure]:
    customers, _ = await seed(url, args.users)
    await fill_carts(url, customers)
    port = free_port()

    async def ready() -> bool:
        return (await get_json(port, "/health"))[0] == 200

    categories = list(range(1, 7))
    lists = [
        http_request(port, "GET", f"/api/v1/products?category_id={categories[n % 6]}&limit=20")
        for n in range(args.requests)
    ]
    bare_lists = [
        http_request(bare.port, "GET", "/api/v1/products?limit=20") for _ in range(args.requests)
    ]
    signed = [init_data(telegram_id, language) for telegram_id, language in customers]
    carts = [
        http_request(port, "GET", "/api/v1/cart", Authorization=f"tma {signed[n % len(signed)]}")
        for n in range(args.requests)
    ]
    log = workdir / f"shop-{title.split()[0].lower()}.log"
    command = [sys.executable, "-m", "tgshop", "serve", "--host", "127.0.0.1", "--port", str(port)]
    env = environment(url, stub_url)
    best: dict[str, Figure] = {}
    async with child(
        "the shop", command, port, SHOP_CORE, ready=ready, env=env, cwd=str(workdir), log=log
    ) as shop:
        await measure("warm-up", shop, lists[:500] + carts[: len(signed)], args.concurrency)
        await measure("warm-up", bare, bare_lists[:500], args.concurrency)
        print(f"\n{title}:")
        for round_ in range(1, args.rounds + 1):
            runs = [
                ("bare", bare, bare_lists, "bare FastAPI list"),
                ("list", shop, lists, "tgshop product list"),
                ("cart", shop, carts, "tgshop cart (initData)"),
            ]
            if round_ % 2 == 0:
                runs.reverse()
            for key, server, requests, label in runs:
                figure = await measure(
                    f"round {round_}: {label}", server, requests, args.concurrency
                )
                print(figure.line())
                if key not in best or figure.rate > best[key].rate:
                    best[key] = figure
    env.update(TGSHOP_SHOP_CART_CACHE_SECONDS="0", TGSHOP_CUSTOMER_CACHE_SECONDS="0")
    cold_log = workdir / f"shop-{title.split()[0].lower()}-no-memory.log"
    async with child(
        "the shop (memories off)",
        command,
        port,
        SHOP_CORE,
        ready=ready,
        env=env,
        cwd=str(workdir),
        log=cold_log,
    ) as shop:
        await measure("warm-up", shop, carts[: len(signed)], args.concurrency)
        for round_ in range(1, args.rounds + 1):
            figure = await measure(
                f"round {round_}: cart, memories off", shop, carts, args.concurrency
            )
            print(figure.line())
            if "cold" not in best or figure.rate > best["cold"].rate:
                best["cold"] = figure
    problems = log_problems(log) + log_problems(cold_log)
    print(f"  best of {args.rounds} rounds:")
    best["bare"].name, best["list"].name = "bare FastAPI (baseline)", "tgshop product list"
    best["cart"].name, best["cold"].name = "tgshop cart (initData)", "  the same, memories off"
    print(best["bare"].line())
    print(best["list"].line(best["bare"]))
    print(best["cart"].line(best["bare"]))
    print(best["cold"].line(best["bare"]))
    if problems:
        print(f"  the shop logged {len(problems)} warnings/errors; the first: {problems[0][:300]}")
    else:
        print("  the shop logged no warnings or errors")
    return best


def verdict(title: str, best: dict[str, Figure]) -> str:
    share = best["list"].rate / best["bare"].rate
    list_ok = share >= TARGET_SHARE and best["list"].rate >= TARGET_LIST
    cart_ok = best["cart"].rate >= TARGET_CART
    return (
        f"  {title}: product list {best['list'].rate:.0f}/s = {share:.2f} of bare "
        f"({'met' if list_ok else 'NOT met'}); cart {best['cart'].rate:.0f}/s "
        f"({'met' if cart_ok else 'NOT met'}; {best['cold'].rate:.0f}/s with the memories off)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=5_000, help="requests per run")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds; best kept")
    parser.add_argument("--users", type=int, default=2_000, help="customers reading carts")
    parser.add_argument("--skip-postgres", action="store_true")
    parser.add_argument("--skip-sqlite", action="store_true")
    args = parser.parse_args()
    if (os.cpu_count() or 1) < 2:
        sys.exit("this benchmark pins the server and the load to different cores: needs 2 CPUs")
    os.sched_setaffinity(0, {LOAD_CORE})
    from tests.support import databases

    print(
        f"bench.api: {args.requests} requests per run, {args.concurrency} in flight, "
        f"{args.rounds} alternating rounds (best kept), {args.users} customers; the servers "
        f"on cpu{SHOP_CORE}, this load generator and the stub Bot API on cpu{LOAD_CORE}"
    )
    runs = [] if args.skip_sqlite else [("SQLite", "sqlite")]
    if not args.skip_postgres:
        reason = await databases.postgres_unavailable_reason()
        if reason:
            print(f"PostgreSQL: skipped — {reason}")
        else:
            runs.append(("PostgreSQL", "postgres"))
    workdir = Path(tempfile.mkdtemp(prefix="tgshop-bench-api-"))
    stub_port, bare_port = free_port(), free_port()

    async def stub_ready() -> bool:
        return (await get_json(stub_port, "/bench/counts"))[0] == 200

    async def bare_ready() -> bool:
        connection = await connect(bare_port)
        connection.transport.close()
        return True

    outcomes: list[tuple[str, dict[str, Figure]]] = []
    try:
        async with (
            child(
                "the stub Bot API",
                [sys.executable, "-m", "bench.bot", "--serve", "stub", "--port", str(stub_port)],
                stub_port,
                LOAD_CORE,
                ready=stub_ready,
            ),
            child(
                "the bare FastAPI app",
                [sys.executable, "-m", "bench.api", "--serve-bare", str(bare_port)],
                bare_port,
                SHOP_CORE,
                ready=bare_ready,
            ) as bare,
        ):
            for title, kind in runs:
                async with database(kind, args, workdir) as url:
                    best = await run_backend(
                        title, url, args, bare, f"http://127.0.0.1:{stub_port}", workdir
                    )
                    outcomes.append((title, best))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"\ntargets (issue 'Mini App storefront': product list ≥ {TARGET_SHARE} of bare and "
        f"≥ {TARGET_LIST}/s, authenticated cart ≥ {TARGET_CART}/s):"
    )
    for title, best in outcomes:
        print(verdict(title, best))


if __name__ == "__main__":
    if "--serve-bare" in sys.argv:
        serve_bare(int(sys.argv[sys.argv.index("--serve-bare") + 1]))
    else:
        import uvloop

        uvloop.run(main())
