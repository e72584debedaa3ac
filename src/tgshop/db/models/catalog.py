from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, deferred, mapped_column, relationship

from tgshop.db.models.base import Base, BigId, IdMixin, TimestampMixin


class Category(IdMixin, TimestampMixin, Base):
    __tablename__ = "categories"

    key: Mapped[str] = mapped_column(String(64), unique=True)
    parent_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("categories.id", ondelete="RESTRICT"), index=True
    )
    title: Mapped[str] = mapped_column(String(128))
    description: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class Product(IdMixin, TimestampMixin, Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("kind IN ('physical','digital','subscription','service')", name="kind"),
        Index("ix_products_category_id_active", "category_id", "is_active", "position"),
    )

    key: Mapped[str] = mapped_column(String(64), unique=True)
    category_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("categories.id", ondelete="SET NULL")
    )
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(256))
    description: Mapped[str] = mapped_column(Text, default="")
    search_text: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    variants: Mapped[list[Variant]] = relationship(
        back_populates="product", order_by="Variant.position", cascade="all, delete-orphan"
    )
    media: Mapped[list[Media]] = relationship(
        back_populates="product", order_by="Media.position", cascade="all, delete-orphan"
    )


class Variant(IdMixin, TimestampMixin, Base):
    __tablename__ = "variants"
    __table_args__ = (
        CheckConstraint("stock_quantity >= 0", name="stock_not_negative"),
        CheckConstraint("price_amount >= 0", name="price_not_negative"),
        CheckConstraint("stock_mode IN ('tracked','unlimited')", name="stock_mode"),
        Index("ix_variants_product_id_position", "product_id", "position"),
    )

    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("products.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str] = mapped_column(String(128))
    price_amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    stars_price: Mapped[int | None] = mapped_column(Integer)
    stock_mode: Mapped[str] = mapped_column(String(16), default="tracked")
    stock_quantity: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    product: Mapped[Product] = relationship(back_populates="variants")


class Media(IdMixin, TimestampMixin, Base):
    __tablename__ = "media"
    __table_args__ = (Index("ix_media_product_id_position", "product_id", "position"),)

    product_id: Mapped[int] = mapped_column(BigId, ForeignKey("products.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    file_name: Mapped[str] = mapped_column(String(256))
    mime: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    # Kept in the database so every replica serves the same bytes without shared disks.
    data: Mapped[bytes] = deferred(mapped_column(LargeBinary))
    telegram_file_id: Mapped[str | None] = mapped_column(String(256))

    product: Mapped[Product] = relationship(back_populates="media")
