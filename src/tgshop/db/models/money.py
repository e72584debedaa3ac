from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from tgshop.db.models.base import Base, BigId, IdMixin, JsonType, TimestampMixin, UtcDateTime


class Payment(IdMixin, TimestampMixin, Base):
    """Money asked for or received through one gateway, for an order or a wallet top-up."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("gateway", "provider_payment_id"),
        UniqueConstraint("gateway", "provider_charge_id"),
        Index("ix_payments_order_id", "order_id"),
        Index("ix_payments_status_created_at", "status", "created_at"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("purpose IN ('order','topup')", name="purpose"),
        CheckConstraint("mode IN ('test','live')", name="mode"),
        CheckConstraint(
            "status IN ('pending','succeeded','failed','cancelled')", name="payment_status"
        ),
        CheckConstraint("value_amount > 0", name="value_positive"),
        CheckConstraint("wallet_amount >= 0", name="wallet_not_negative"),
    )

    order_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("orders.id", ondelete="RESTRICT")
    )
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="RESTRICT"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(16))
    gateway: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(8))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # What the payment is worth in the shop's currency (a Stars payment: the order total or
    # the top-up it pays for); what a wallet is credited if the money cannot go to its order.
    value_amount: Mapped[int] = mapped_column(BigInteger)
    value_currency: Mapped[str] = mapped_column(String(3))
    # A mixed payment: the part of the order (shop currency) the customer's balance pays,
    # debited only when the gateway's part arrives; 0 for an ordinary payment.
    wallet_amount: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(24))
    provider_payment_id: Mapped[str | None] = mapped_column(String(128))
    provider_charge_id: Mapped[str | None] = mapped_column(String(128))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    raw: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Why the money did not go to its order (expired, cancelled, already paid, amount
    # mismatch) and what was done with it instead; None for an ordinary payment.
    outcome: Mapped[str | None] = mapped_column(Text)


class Refund(IdMixin, TimestampMixin, Base):
    """Money going back to a customer: asked for, decided by staff, then sent."""

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("value_amount > 0", name="value_positive"),
        CheckConstraint(
            "status IN ('requested','approved','rejected','processing','succeeded','failed')",
            name="status",
        ),
        UniqueConstraint("payment_id", "provider_refund_id"),
    )

    order_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("orders.id", ondelete="RESTRICT"), index=True
    )
    payment_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("payments.id", ondelete="RESTRICT"), index=True
    )
    # In the payment's currency (what goes back through its gateway) ...
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # ... and its worth in the shop currency: what a balance is credited, what counts
    # against the order's total.
    value_amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    requested_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    provider_refund_id: Mapped[str | None] = mapped_column(String(128))
    note: Mapped[str | None] = mapped_column(Text)


class LedgerTransaction(IdMixin, Base):
    """One wallet movement; its entries sum to zero per currency."""

    __tablename__ = "ledger_transactions"

    kind: Mapped[str] = mapped_column(
        String(32)
    )  # topup | purchase | refund | adjustment | referral_bonus
    reference: Mapped[str | None] = mapped_column(String(128), unique=True)
    note: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LedgerEntry(IdMixin, Base):
    """A signed amount on one account.

    Accounts: ``wallet:<user id>``, ``shop:revenue``, ``external:<gateway>``.
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_account_currency", "account", "currency"),
        CheckConstraint("amount <> 0", name="amount_not_zero"),
    )

    transaction_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("ledger_transactions.id", ondelete="RESTRICT"), index=True
    )
    account: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("users.id", ondelete="RESTRICT"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class OutboxJob(IdMixin, TimestampMixin, Base):
    """A side effect that must happen, written in the same transaction as its cause."""

    __tablename__ = "outbox_jobs"
    __table_args__ = (
        Index("ix_outbox_jobs_status_run_after", "status", "run_after"),
        CheckConstraint("status IN ('pending','running','done','dead')", name="status"),
    )

    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=8)
    run_after: Mapped[datetime] = mapped_column(UtcDateTime)
    locked_by: Mapped[str | None] = mapped_column(String(64))
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
