"""Payment confirmations per second on PostgreSQL, with duplicates in the stream, and the
double-credit count.

How it measures:
- a fresh PostgreSQL database (created on --postgres-url, dropped afterwards), migrated;
  --orders customers, each with one unpaid order (a digital item with a Stars price) and a
  pending Telegram Stars payment for it, made through ``PaymentService.stars_invoice``;
- the stream: one successful_payment report per order, plus --duplicates (a share of the
  stream) exact repeats of random ones — Telegram and providers re-deliver — shuffled;
- tgshop: ``PaymentService.confirm`` for every report, --concurrency at a time through a
  pool of that size, one process: per report a transaction that locks the payment, checks
  the charge id, marks it succeeded, locks the order, posts the ledger (two entries), marks
  the order paid and confirmed (order event, two outbox jobs);
- baseline, same database, same concurrency, same stream: the least an exactly-once
  confirmation can write — a conditional ``UPDATE payments SET status='succeeded' ... WHERE
  idempotency_key = $1 AND status = 'pending'`` in its own transaction through the same
  engine (a duplicate updates nothing);
- the figure is reports handled per second, duplicates included (they are work too);
- double credits: ledger transactions beyond one per succeeded payment, payments
  succeeded more than once for a charge, and orders whose revenue postings exceed their
  total — each must be 0; the ledger must sum to zero.

Usage: python -m bench.payments [--orders 3000] [--duplicates 0.3] [--concurrency 50]
       [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import time
from dataclasses import dataclass

from sqlalchemy import func, select, text, update
from tests.support import databases

from tgshop.config import PaymentsSettings, ShopSettings
from tgshop.db.engine import Database
from tgshop.db.models import LedgerEntry, LedgerTransaction, Order, Payment, Product, User, Variant
from tgshop.domain.ledger import REVENUE
from tgshop.domain.payments import Gateway
from tgshop.services.order_placement import OrderLine, PlaceOrderRequest
from tgshop.services.orders import OrderService
from tgshop.services.payments import Outcome, PaymentService, ProviderReport
from tgshop.services.ports import SystemClock

PRICE = 500
STARS = 25


@dataclass
class Result:
    name: str
    reports: int
    seconds: float
    note: str = ""

    def line(self) -> str:
        rate = self.reports / self.seconds
        return (
            f"  {self.name:<34} {rate:8.0f} confirmations/s  "
            f"({self.reports} reports in {self.seconds:.2f}s){self.note}"
        )


async def seed(db: Database, orders: int) -> list[ProviderReport]:
    """Customers with an unpaid order and a pending Stars payment each; one report each."""
    clock = SystemClock()
    shop = ShopSettings(order_ttl_minutes=24 * 60)
    async with db.transaction() as session:
        product = Product(key="pass", title="Pass", kind="digital", description="", is_active=True)
        session.add(product)
        await session.flush()
        variant = Variant(
            product_id=product.id,
            sku="pass",
            title="one",
            price_amount=PRICE,
            currency="USD",
            stars_price=STARS,
            stock_mode="unlimited",
            stock_quantity=0,
            is_active=True,
            position=0,
        )
        users = [
            User(telegram_id=900_000 + n, first_name=f"U{n}", referral_code=f"b{n}")
            for n in range(orders)
        ]
        session.add(variant)
        session.add_all(users)
        await session.flush()
        ids = [(u.id, u.telegram_id) for u in users]
        variant_id = variant.id
    service = OrderService(db, clock, shop)
    payments = PaymentService(db, clock, shop, PaymentsSettings())
    reports = []
    for n, (user_id, telegram_id) in enumerate(ids):
        order = await service.place_order(PlaceOrderRequest(user_id, [OrderLine(variant_id, 1)]))
        invoice = await payments.stars_invoice(order.id, user_id)
        reports.append(
            ProviderReport(Gateway.STARS, invoice.payload, f"stxn-{n}", STARS, "XTR", telegram_id)
        )
    return reports


async def drive(concurrency: int, stream: list[ProviderReport], one) -> float:  # type: ignore[no-untyped-def]
    items = iter(stream)

    async def worker() -> None:
        for report in items:
            await one(report)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def double_credits(db: Database) -> tuple[int, int]:
    """(double credits found, ledger sum): both must be 0."""
    async with db.read() as session:
        succeeded = await session.scalar(
            select(func.count()).select_from(Payment).where(Payment.status == "succeeded")
        )
        posted = await session.scalar(select(func.count()).select_from(LedgerTransaction))
        repeated_charges = await session.scalar(
            select(func.count()).select_from(
                select(Payment.provider_charge_id)
                .where(Payment.provider_charge_id.is_not(None))
                .group_by(Payment.provider_charge_id)
                .having(func.count() > 1)
                .subquery()
            )
        )
        revenue = await session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
                LedgerEntry.account == REVENUE
            )
        )
        paid_total = await session.scalar(
            select(func.coalesce(func.sum(Order.total_amount), 0)).where(
                Order.payment_status == "paid"
            )
        )
        ledger_sum = await session.scalar(select(func.coalesce(func.sum(LedgerEntry.amount), 0)))
    extra_revenue = max(0, int(revenue or 0) - int(paid_total or 0)) // PRICE
    return (int(posted or 0) - int(succeeded or 0)) + int(repeated_charges or 0) + extra_revenue, (
        int(ledger_sum or 0)
    )


async def run(url: str, args: argparse.Namespace) -> list[Result]:
    db = databases.database_for(url, pool_size=args.concurrency, max_overflow=0)
    await databases.migrate.upgrade(db)
    rng = random.Random(7)
    results = []
    try:
        reports = await seed(db, args.orders)
        repeats = [rng.choice(reports) for _ in range(int(len(reports) * args.duplicates))]
        stream = reports + repeats
        rng.shuffle(stream)

        # Baseline: one conditional UPDATE per report, same engine and concurrency.
        bare_sql = text(
            "UPDATE payments SET status = 'succeeded', provider_charge_id = :charge "
            "WHERE idempotency_key = :key AND status = 'pending'"
        )
        applied = 0

        async def bare(report: ProviderReport) -> None:
            nonlocal applied
            async with db.transaction() as session:
                done = await session.execute(
                    bare_sql, {"charge": report.charge_id, "key": report.payload}
                )
                applied += done.rowcount  # type: ignore[attr-defined]

        seconds = await drive(args.concurrency, stream, bare)
        assert applied == len(reports), (applied, len(reports))
        results.append(Result("baseline (conditional UPDATE)", len(stream), seconds))

        # Back to pending for the real run.
        async with db.transaction() as session:
            await session.execute(update(Payment).values(status="pending", provider_charge_id=None))
        service = PaymentService(db, SystemClock(), ShopSettings(), PaymentsSettings())
        outcomes: dict[str, int] = {}

        async def confirm(report: ProviderReport) -> None:
            outcome = (await service.confirm(report)).outcome.value
            outcomes[outcome] = outcomes.get(outcome, 0) + 1

        seconds = await drive(args.concurrency, stream, confirm)
        doubles, ledger_sum = await double_credits(db)
        assert outcomes.get(Outcome.PAID.value) == len(reports), outcomes
        results.append(
            Result(
                "tgshop PaymentService.confirm",
                len(stream),
                seconds,
                f"; {outcomes.get('paid', 0)} paid, {outcomes.get('duplicate', 0)} duplicates "
                f"ignored; double credits: {doubles}; ledger sum: {ledger_sum}",
            )
        )
    finally:
        await db.dispose()
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=3000)
    parser.add_argument("--duplicates", type=float, default=0.3, help="share of repeats")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--postgres-url", default=databases.admin_postgres_url())
    args = parser.parse_args()
    os.environ["TGSHOP_TEST_POSTGRES_URL"] = args.postgres_url
    reason = await databases.postgres_unavailable_reason()
    if reason:
        raise SystemExit(f"PostgreSQL is needed: {reason}")
    print(
        f"payments benchmark: {args.orders} orders, one Stars confirmation each plus "
        f"{args.duplicates:.0%} exact repeats, shuffled, {args.concurrency} at a time, "
        f"PostgreSQL, one process (target: >= 300 confirmations/s, 0 double credits)"
    )
    url = await databases.create_postgres_database()
    try:
        results = await run(url, args)
    finally:
        await databases.drop_postgres_database(url)
    for result in results:
        print(result.line())
    base, ours = results
    print(
        f"  tgshop / baseline: {(ours.reports / ours.seconds) / (base.reports / base.seconds):.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
