"""Every table tgshop owns. Importing this package registers them all on Base.metadata."""

from tgshop.db.models.base import Base
from tgshop.db.models.catalog import Category, Media, Product, Variant
from tgshop.db.models.money import (
    LedgerEntry,
    LedgerTransaction,
    OutboxJob,
    Payment,
    Refund,
)
from tgshop.db.models.orders import (
    Cart,
    CartItem,
    Order,
    OrderEvent,
    OrderItem,
    PromoCode,
    PromoRedemption,
)
from tgshop.db.models.telegram import FsmState, ProcessedUpdate
from tgshop.db.models.users import AuditLog, Setting, StaffMember, User

__all__ = [
    "AuditLog",
    "Base",
    "Cart",
    "CartItem",
    "Category",
    "FsmState",
    "LedgerEntry",
    "LedgerTransaction",
    "Media",
    "Order",
    "OrderEvent",
    "OrderItem",
    "OutboxJob",
    "Payment",
    "ProcessedUpdate",
    "Product",
    "PromoCode",
    "PromoRedemption",
    "Refund",
    "Setting",
    "StaffMember",
    "User",
    "Variant",
]
