"""payments record the part of an order the customer's balance pays

Revision ID: 0006_mixed_payments
Revises: 0005_refund_values
Create Date: 2026-11-23 18:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_mixed_payments"
down_revision: str | None = "0005_refund_values"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("wallet_amount", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.create_check_constraint("wallet_not_negative", "wallet_amount >= 0")


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_payments_wallet_not_negative"), type_="check")
        batch_op.drop_column("wallet_amount")
