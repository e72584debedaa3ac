from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tgshop.db.models.base import Base, BigId, IdMixin, JsonType, TimestampMixin, UtcDateTime


class Cart(IdMixin, TimestampMixin, Base):
    """One server-side cart per user, shared by the bot and the Mini App."""

    __tablename__ = "carts"

    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), unique=True
    )
    items: Mapped[list[CartItem]] = relationship(
        back_populates="cart", order_by="CartItem.id", cascade="all, delete-orphan"
    )


class CartItem(IdMixin, TimestampMixin, Base):
    __tablename__ = "cart_items"
    __table_args__ = (
        UniqueConstraint("cart_id", "variant_id"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
    )

    cart_id: Mapped[int] = mapped_column(BigId, ForeignKey("carts.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("variants.id", ondelete="CASCADE"), index=True
    )
    quantity: Mapped[int] = mapped_column(Integer)

    cart: Mapped[Cart] = relationship(back_populates="items")


class Order(IdMixin, TimestampMixin, Base):
    __tablename__ = "orders"
    __table_args__ = (
        Index("ix_orders_user_id_created_at", "user_id", "created_at"),
        Index("ix_orders_status_expires_at", "status", "expires_at"),
        Index("ix_orders_created_at", "created_at"),
        CheckConstraint("total_amount >= 0", name="total_not_negative"),
    )

    number: Mapped[str | None] = mapped_column(String(32), unique=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id", ondelete="RESTRICT"))
    status: Mapped[str] = mapped_column(String(24))
    payment_status: Mapped[str] = mapped_column(String(24))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_amount: Mapped[int] = mapped_column(BigInteger)
    discount_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    delivery_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    total_amount: Mapped[int] = mapped_column(BigInteger)
    promo_code_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("promo_codes.id", ondelete="SET NULL")
    )
    delivery: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    tracking_number: Mapped[str | None] = mapped_column(String(128))
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    items: Mapped[list[OrderItem]] = relationship(
        back_populates="order", order_by="OrderItem.id", cascade="all, delete-orphan"
    )
    events: Mapped[list[OrderEvent]] = relationship(
        back_populates="order", order_by="OrderEvent.id", cascade="all, delete-orphan"
    )


class OrderItem(IdMixin, Base):
    """A line as it was sold: title and price are snapshots, not references."""

    __tablename__ = "order_items"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    order_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    variant_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("variants.id", ondelete="SET NULL")
    )
    product_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("products.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(16))
    sku: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(256))
    variant_title: Mapped[str] = mapped_column(String(128))
    unit_price_amount: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(Integer)
    total_amount: Mapped[int] = mapped_column(BigInteger)
    stock_reserved: Mapped[int] = mapped_column(Integer, default=0)

    order: Mapped[Order] = relationship(back_populates="items")


class OrderEvent(IdMixin, Base):
    """Order history: every status change with who made it, when and why."""

    __tablename__ = "order_events"

    order_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("orders.id", ondelete="CASCADE"), index=True
    )
    from_status: Mapped[str | None] = mapped_column(String(24))
    to_status: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(16))
    actor_user_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="SET NULL")
    )
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)

    order: Mapped[Order] = relationship(back_populates="events")


class PromoCode(IdMixin, TimestampMixin, Base):
    __tablename__ = "promo_codes"
    __table_args__ = (
        CheckConstraint("kind IN ('percent','fixed')", name="kind"),
        CheckConstraint("value > 0", name="value_positive"),
    )

    code: Mapped[str] = mapped_column(String(32), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[int] = mapped_column(BigInteger)  # percent, or minor units of `currency`
    currency: Mapped[str | None] = mapped_column(String(3))
    min_order_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    max_redemptions: Mapped[int | None] = mapped_column(Integer)
    per_user_limit: Mapped[int] = mapped_column(Integer, default=1)
    starts_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    is_active: Mapped[bool] = mapped_column(default=True)


class PromoRedemption(IdMixin, Base):
    __tablename__ = "promo_redemptions"
    __table_args__ = (UniqueConstraint("promo_code_id", "order_id"),)

    promo_code_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("promo_codes.id", ondelete="CASCADE")
    )
    user_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
