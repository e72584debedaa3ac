"""Staff changing a customer's balance by hand (a goodwill credit, a correction).

Rules:
- the amount is in the shop currency and not zero; a reason of 3-500 characters is
  required, and who did it is recorded;
- a credit comes from ``shop:expense``, a debit goes back to it; a debit never takes the
  balance below zero (InsufficientFunds, nothing written);
- the ledger transaction (kind ``adjustment``, the reason as its note, the staff member as
  its author) and an ``audit_log`` row are written in one transaction;
- the customer is named by their Telegram id or by the number of one of their orders.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tgshop.config import ShopSettings
from tgshop.db.engine import Database
from tgshop.db.models import AuditLog, Order, User
from tgshop.domain.errors import InvalidRequest, NotFound
from tgshop.domain.ledger import EXPENSE, LedgerKind, transfer, wallet
from tgshop.domain.money import Money
from tgshop.services import ledger
from tgshop.services.ports import Clock


@dataclass(frozen=True)
class Adjustment:
    user_id: int
    telegram_id: int
    amount: Money  # signed: positive credits the customer
    balance: Money  # the balance afterwards


class WalletAdjustments:
    def __init__(self, db: Database, clock: Clock, shop: ShopSettings) -> None:
        self._db = db
        self._clock = clock
        self._shop = shop

    async def adjust(
        self, customer: str, amount: str, reason: str, staff_user_id: int
    ) -> Adjustment:
        """Credit (``+5``) or debit (``-2.50``) a customer's balance (see module). Raises
        NotFound, InvalidRequest or InsufficientFunds."""
        reason = " ".join(reason.split())
        if not 3 <= len(reason) <= 500:
            raise InvalidRequest("give a reason of 3-500 characters")
        try:
            money = Money.parse(amount, self._shop.currency)
        except ValueError as exc:
            raise InvalidRequest(f"not an amount in {self._shop.currency}: {exc}") from None
        if money.amount == 0:
            raise InvalidRequest("the amount must not be zero")
        now = self._clock.now()
        async with self._db.transaction() as session:
            user = await self._customer(session, customer)
            source, target = (EXPENSE, wallet(user.id))
            if money.amount < 0:
                source, target = target, source
            reference = f"adjustment:{secrets.token_urlsafe(12)}"
            await ledger.post(
                session,
                kind=LedgerKind.ADJUSTMENT,
                reference=reference,
                postings=transfer(source, target, abs(money.amount), money.currency),
                now=now,
                note=reason,
                created_by=staff_user_id,
            )
            session.add(
                AuditLog(
                    actor_user_id=staff_user_id,
                    action="wallet.adjusted",
                    entity="user",
                    entity_id=str(user.id),
                    data={
                        "amount": money.amount,
                        "currency": money.currency,
                        "reason": reason,
                        "reference": reference,
                    },
                    created_at=now,
                )
            )
            balance = await ledger.wallet_balance(session, user.id, money.currency)
            return Adjustment(user.id, user.telegram_id, money, Money(balance, money.currency))

    @staticmethod
    async def _customer(session: AsyncSession, customer: str) -> User:
        reference = customer.strip()
        if reference.isdigit():
            user = await session.scalar(select(User).where(User.telegram_id == int(reference)))
        else:
            user = await session.scalar(
                select(User)
                .join(Order, Order.user_id == User.id)
                .where(Order.number == reference.upper())
            )
        if user is None:
            raise NotFound(f"no customer {reference!r} (a Telegram id or an order number)")
        return user
