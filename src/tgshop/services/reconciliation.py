"""Reconciliation of Telegram Stars: money Telegram holds for us that we never heard of.

A successful_payment update can be lost: the shop was down past Telegram's retries, or a
deployment dropped it. Telegram still lists the payment in getStarTransactions. This
pass reads that list and feeds every incoming invoice payment to the same exactly-once
confirmation as the update would have, so a payment we already took in is a no-op and a
missed one is taken in now (the order paid, or late money credited or refunded).

Rules:
- the list is append-only and read oldest first from a cursor kept in the ``settings``
  table (``reconcile.stars.offset``), so each pass reads only what is new; the cursor
  moves only past transactions that were handled, so a failure is retried next time;
- a transaction without an invoice payload (not ours) is counted and skipped.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
from sqlalchemy import select

from tgshop.db.engine import Database
from tgshop.db.models import Setting
from tgshop.db.upsert import insert_for
from tgshop.domain.payments import Gateway
from tgshop.services.payments import Outcome, PaymentService, ProviderReport
from tgshop.services.ports import Clock, TelegramClient

log = structlog.get_logger("tgshop.payments.reconcile")

CURSOR_KEY = "reconcile.stars.offset"
PAGE = 100


@dataclass(frozen=True)
class StarsReconciliation:
    read: int  # transactions read in this pass, incoming or not
    already_known: int
    taken_in: int  # payments we had missed, taken in now
    not_ours: int


class StarsReconciler:
    def __init__(
        self, db: Database, clock: Clock, payments: PaymentService, telegram: TelegramClient
    ) -> None:
        self._db = db
        self._clock = clock
        self._payments = payments
        self._telegram = telegram

    async def run(self, *, max_pages: int = 10) -> StarsReconciliation:
        """One pass over the transactions new since the last pass (see module)."""
        offset = await self._cursor()
        read = known = taken = foreign = 0
        for _ in range(max_pages):
            page = await self._telegram.star_transactions(offset, PAGE)
            for transaction in page.incoming:
                if not transaction.invoice_payload:
                    foreign += 1
                    continue
                confirmation = await self._payments.confirm(
                    ProviderReport(
                        gateway=Gateway.STARS,
                        payload=transaction.invoice_payload,
                        charge_id=transaction.id,
                        amount=transaction.amount,
                        currency="XTR",
                        telegram_user_id=transaction.user_id,
                        raw={"source": "getStarTransactions"},
                    )
                )
                if confirmation.outcome is Outcome.DUPLICATE:
                    known += 1
                else:
                    taken += 1
                    log.warning(
                        "reconcile.stars.missed_payment",
                        charge_id=transaction.id,
                        outcome=confirmation.outcome.value,
                        payment_id=confirmation.payment_id,
                        order_id=confirmation.order_id,
                    )
            read += page.count
            offset += page.count
            await self._save_cursor(offset)
            if page.count < PAGE:
                break
        return StarsReconciliation(read, known, taken, foreign)

    async def run_periodically(self) -> int:
        """For the worker's periodic tasks: how many missed payments were taken in."""
        return (await self.run()).taken_in

    async def _cursor(self) -> int:
        async with self._db.read() as session:
            value = await session.scalar(select(Setting.value).where(Setting.key == CURSOR_KEY))
        return int(value.get("offset", 0)) if isinstance(value, dict) else 0

    async def _save_cursor(self, offset: int) -> None:
        now = self._clock.now()
        async with self._db.transaction() as session:
            stmt = insert_for(session, Setting).values(
                key=CURSOR_KEY, value={"offset": offset}, updated_at=now
            )
            await session.execute(
                stmt.on_conflict_do_update(
                    index_elements=[Setting.key],
                    set_={"value": stmt.excluded.value, "updated_at": now},
                )
            )
