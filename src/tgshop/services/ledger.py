"""Posting to the wallet ledger inside the caller's unit of work (rules in domain/ledger.py).

How the rules hold under concurrency:
- the unique ``reference`` of a ledger transaction is inserted first, with ON CONFLICT DO
  NOTHING: of two units of work posting the same reference, one writes and the other
  learns it was already done (on PostgreSQL it waits for the first to commit or roll back);
- before a wallet is debited, its owner's ``users`` row is locked (FOR NO KEY UPDATE on
  PostgreSQL; SQLite has one writer at a time anyway) and its balance summed, so two debits
  of one wallet run one after the other and the second sees the first: a balance never
  goes below zero. Credits take no lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from tgshop.db.models import LedgerEntry, LedgerTransaction, User
from tgshop.db.upsert import insert_for_dialect
from tgshop.domain.errors import DomainError
from tgshop.domain.ledger import LedgerKind, Posting, check_balanced, wallet, wallet_owner


class InsufficientFunds(DomainError):
    code = "insufficient_funds"

    def __init__(self, available: int, needed: int, currency: str) -> None:
        super().__init__(f"the balance is {available} {currency}, {needed} is needed")
        self.available = available
        self.needed = needed
        self.currency = currency


@dataclass(frozen=True)
class LedgerLine:
    """One movement of a wallet, as its owner sees it."""

    kind: str
    amount: int
    currency: str
    note: str | None
    created_at: datetime


@lru_cache(maxsize=4)
def _transaction_insert(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (reference) DO NOTHING RETURNING id, built once."""
    table = cast(Table, LedgerTransaction.__table__)
    return (
        insert_for_dialect(dialect, table)
        .on_conflict_do_nothing(index_elements=["reference"])
        .returning(table.c.id)
    )


async def post(
    session: AsyncSession,
    *,
    kind: LedgerKind,
    reference: str,
    postings: list[Posting],
    now: datetime,
    note: str | None = None,
    created_by: int | None = None,
) -> bool:
    """Write one balanced ledger transaction; False when ``reference`` was posted before.

    Raises InvalidRequest for unbalanced postings and InsufficientFunds when a wallet would
    go below zero (the caller's unit of work then rolls back as a whole).
    """
    check_balanced(postings)
    if not 1 <= len(reference) <= 128:
        raise ValueError("a ledger reference is 1-128 characters")
    connection = await session.connection()
    inserted = await connection.execute(
        _transaction_insert(connection.dialect.name),
        {
            "kind": kind.value,
            "reference": reference,
            "note": note,
            "created_by": created_by,
            "created_at": now,
        },
    )
    transaction_id = inserted.scalar_one_or_none()
    if transaction_id is None:
        return False
    for posting in sorted(postings, key=lambda p: p.account):  # fixed lock order
        owner = wallet_owner(posting.account)
        if owner is not None and posting.amount < 0:
            available = await wallet_balance(session, owner, posting.currency, lock=True)
            if available + posting.amount < 0:
                raise InsufficientFunds(available, -posting.amount, posting.currency)
    rows = [
        {
            "transaction_id": transaction_id,
            "account": p.account,
            "user_id": wallet_owner(p.account),
            "amount": p.amount,
            "currency": p.currency,
            "created_at": now,
        }
        for p in postings
    ]
    await connection.execute(cast(Table, LedgerEntry.__table__).insert(), rows)
    return True


async def wallet_balance(
    session: AsyncSession, user_id: int, currency: str, *, lock: bool = False
) -> int:
    """A wallet's balance: the sum of its postings. With ``lock``, first lock its owner
    (see module) so the balance cannot change until the unit of work ends."""
    if lock:
        # FOR NO KEY UPDATE: it serializes debits of this wallet, yet does not conflict with
        # the key-share locks that inserting rows referencing the user takes (a payment, a
        # ledger entry) — FOR UPDATE would deadlock two debits that both inserted first.
        await session.execute(
            select(User.id).where(User.id == user_id).with_for_update(key_share=True)
        )
    total = await session.scalar(
        select(func.coalesce(func.sum(LedgerEntry.amount), 0)).where(
            LedgerEntry.account == wallet(user_id), LedgerEntry.currency == currency
        )
    )
    return int(total or 0)


async def wallet_history(
    session: AsyncSession, user_id: int, *, limit: int = 20
) -> list[LedgerLine]:
    """A wallet's movements, newest first."""
    rows = await session.execute(
        select(
            LedgerTransaction.kind,
            LedgerEntry.amount,
            LedgerEntry.currency,
            LedgerTransaction.note,
            LedgerEntry.created_at,
        )
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(LedgerEntry.account == wallet(user_id))
        .order_by(LedgerEntry.id.desc())
        .limit(limit)
    )
    return [LedgerLine(*row) for row in rows]
