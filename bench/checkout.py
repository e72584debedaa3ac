"""Checkout throughput: orders placed per second from one process with N concurrent buyers.

How it measures:
- a fresh database (SQLite file in a temp dir; PostgreSQL database created and dropped on
  the server given by --postgres-url), migrated to head;
- a catalog of --products products with --stock units each, and --buyers users;
- baseline: the bare minimum a checkout must write, run through the same engine and pool —
  one conditional stock UPDATE and one INSERT per transaction (Core SQL, no use case);
- tgshop: ``OrderService.place_order`` ("buy now" lines: reservation, snapshots, order
  number, history event, outbox job), the same number of attempts;
- attempts are spread over products at random, with a little more demand than stock, so
  the last buyers are refused (the oversell check needs losers); the figure is orders
  placed per second — refusals take time but do not count;
- oversold = units sold beyond the initial stock (must be 0), plus any negative stock.

Usage: python -m bench.checkout [--backend sqlite|postgres|both] [--buyers 32] [--orders 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, insert, select, update
from tests.support import databases

from tgshop.config import ShopSettings
from tgshop.db.engine import Database
from tgshop.db.models import AuditLog, Order, OrderItem, Product, User, Variant
from tgshop.domain.errors import OutOfStock
from tgshop.services.orders import OrderLine, OrderService, PlaceOrderRequest
from tgshop.services.ports import SystemClock

NOW = datetime.now(UTC)


@dataclass
class Result:
    name: str
    attempts: int
    orders: int
    refused: int
    seconds: float
    oversold: int

    @property
    def rate(self) -> float:
        """Orders placed per second (refused attempts take time but are not orders)."""
        return self.orders / self.seconds

    def line(self) -> str:
        return (
            f"  {self.name:<22} {self.rate:8.0f} orders/s  ({self.orders} orders, "
            f"{self.refused} refused, {self.attempts} attempts in {self.seconds:.2f}s, "
            f"oversold {self.oversold})"
        )


async def seed(db: Database, products: int, stock: int, buyers: int) -> tuple[list[int], list[int]]:
    async with db.transaction() as session:
        users = [
            User(
                telegram_id=1_000_000 + i,
                first_name=f"Buyer {i}",
                referral_code=f"b{i}",
                created_at=NOW,
                updated_at=NOW,
            )
            for i in range(buyers)
        ]
        session.add_all(users)
        items = []
        for i in range(products):
            product = Product(
                key=f"bench-{i}",
                kind="physical",
                title=f"Bench item {i}",
                search_text=f"bench item {i}",
                created_at=NOW,
                updated_at=NOW,
            )
            product.variants.append(
                Variant(
                    sku=f"B-{i}",
                    title="one",
                    price_amount=1000 + i,
                    currency="USD",
                    stock_mode="tracked",
                    stock_quantity=stock,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            items.append(product)
        session.add_all(items)
        await session.flush()
        return [u.id for u in users], [p.variants[0].id for p in items]


async def drive(concurrency: int, attempts: int, one: callable) -> float:  # type: ignore[valid-type]
    queue = iter(range(attempts))

    async def buyer(n: int) -> None:
        for i in queue:
            await one(n, i)

    started = time.perf_counter()
    await asyncio.gather(*(buyer(n) for n in range(concurrency)))
    return time.perf_counter() - started


async def oversold(db: Database, stock: int) -> int:
    async with db.read() as session:
        sold = (
            await session.execute(
                select(OrderItem.variant_id, func.sum(OrderItem.quantity)).group_by(
                    OrderItem.variant_id
                )
            )
        ).all()
        negative = (
            await session.execute(
                select(func.count()).select_from(Variant).where(Variant.stock_quantity < 0)
            )
        ).scalar_one()
    return sum(max(0, int(total) - stock) for _, total in sold) + int(negative)


async def run_backend(url: str, args: argparse.Namespace) -> list[Result]:
    db = databases.database_for(url, pool_size=args.buyers, max_overflow=0)
    await databases.migrate.upgrade(db)
    results = []
    try:
        # Baseline: conditional stock update + one insert, same engine, same concurrency.
        users, variants = await seed(db, args.products, args.stock, args.buyers)
        rng = random.Random(1)
        picks = [rng.choice(variants) for _ in range(args.orders)]
        counts = {"ok": 0, "no": 0}

        async def bare(n: int, i: int) -> None:
            async with db.transaction() as session:
                done = await session.execute(
                    update(Variant)
                    .where(Variant.id == picks[i], Variant.stock_quantity >= 1)
                    .values(stock_quantity=Variant.stock_quantity - 1)
                )
                if done.rowcount == 1:
                    await session.execute(
                        insert(AuditLog).values(
                            action="bench",
                            entity="variant",
                            entity_id=str(picks[i]),
                            data={},
                            created_at=NOW,
                        )
                    )
                    counts["ok"] += 1
                else:
                    counts["no"] += 1

        seconds = await drive(args.buyers, args.orders, bare)
        results.append(
            Result("baseline (bare SQL)", args.orders, counts["ok"], counts["no"], seconds, 0)
        )

        await databases.wipe(db)
        users, variants = await seed(db, args.products, args.stock, args.buyers)
        picks = [rng.choice(variants) for _ in range(args.orders)]
        service = OrderService(db, SystemClock(), ShopSettings())
        counts = {"ok": 0, "no": 0}

        async def place(n: int, i: int) -> None:
            try:
                await service.place_order(PlaceOrderRequest(users[n], [OrderLine(picks[i], 1)]))
                counts["ok"] += 1
            except OutOfStock:
                counts["no"] += 1

        seconds = await drive(args.buyers, args.orders, place)
        async with db.read() as session:
            orders = (await session.execute(select(func.count()).select_from(Order))).scalar_one()
        assert orders == counts["ok"]
        results.append(
            Result(
                "tgshop place_order",
                args.orders,
                counts["ok"],
                counts["no"],
                seconds,
                await oversold(db, args.stock),
            )
        )
    finally:
        await db.dispose()
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--buyers", type=int, default=32, help="concurrent buyers (and pool size)")
    parser.add_argument("--orders", type=int, default=3000, help="checkout attempts per run")
    parser.add_argument("--products", type=int, default=50)
    parser.add_argument("--stock", type=int, default=55, help="units per product")
    parser.add_argument("--postgres-url", default=databases.admin_postgres_url())
    args = parser.parse_args()
    print(
        f"checkout benchmark: {args.buyers} concurrent buyers, {args.orders} attempts, "
        f"{args.products} products x {args.stock} units "
        f"(so {args.products * args.stock} can be sold)"
    )
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        if backend == "postgres":
            import os

            os.environ["TGSHOP_TEST_POSTGRES_URL"] = args.postgres_url
            reason = await databases.postgres_unavailable_reason()
            if reason:
                print(f"{backend}: skipped — {reason}")
                continue
            url = await databases.create_postgres_database()
        else:
            url = databases.sqlite_url(Path(tempfile.mkdtemp(prefix="tgshop-bench-")))
        try:
            results = await run_backend(url, args)
        finally:
            if backend == "postgres":
                await databases.drop_postgres_database(url)
        print(f"{backend}:")
        for result in results:
            print(result.line())
        print(f"  tgshop / baseline: {results[1].rate / results[0].rate:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
