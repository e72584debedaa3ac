"""refunds record their worth in the shop currency

Revision ID: 0005_refund_values
Revises: 0004_payment_values
Create Date: 2026-11-23 18:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_refund_values"
down_revision: str | None = "0004_payment_values"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.add_column(sa.Column("value_amount", sa.BigInteger(), nullable=True))
    # Refunds written before this revision: their share of the payment's worth, rounded
    # half up as the refund service does.
    op.execute(
        "UPDATE refunds SET value_amount = COALESCE("
        "(SELECT (p.value_amount * refunds.amount * 2 + p.amount) / (p.amount * 2) "
        "FROM payments p WHERE p.id = refunds.payment_id), refunds.amount)"
    )
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.alter_column("value_amount", existing_type=sa.BigInteger(), nullable=False)
        batch_op.create_check_constraint("value_positive", "value_amount > 0")


def downgrade() -> None:
    with op.batch_alter_table("refunds", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_refunds_value_positive"), type_="check")
        batch_op.drop_column("value_amount")
