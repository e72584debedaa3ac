"""payments record their worth in the shop currency and what became of unexpected money

Revision ID: 0004_payment_values
Revises: 0003_fsm_states
Create Date: 2026-11-23 12:39:56.922524
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_payment_values"
down_revision: str | None = "0003_fsm_states"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("value_amount", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("value_currency", sa.String(length=3), nullable=True))
        batch_op.add_column(sa.Column("outcome", sa.Text(), nullable=True))
    # Payments written before this revision were charged in the shop currency.
    op.execute("UPDATE payments SET value_amount = amount, value_currency = currency")
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.alter_column("value_amount", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column("value_currency", existing_type=sa.String(length=3), nullable=False)
        batch_op.create_check_constraint(
            "payment_status", "status IN ('pending','succeeded','failed','cancelled')"
        )
        batch_op.create_check_constraint("value_positive", "value_amount > 0")


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_payments_value_positive"), type_="check")
        batch_op.drop_constraint(op.f("ck_payments_payment_status"), type_="check")
        batch_op.drop_column("outcome")
        batch_op.drop_column("value_currency")
        batch_op.drop_column("value_amount")
