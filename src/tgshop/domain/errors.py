"""Errors a use case raises for a request it refuses. Each carries a machine code and a
human message; front ends map them to replies, HTTP problems or CLI messages."""

from __future__ import annotations

from dataclasses import dataclass, field


class DomainError(Exception):
    code = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    code = "not_found"


class InvalidRequest(DomainError):
    code = "invalid_request"


class IllegalTransition(DomainError):
    code = "illegal_transition"


class ConcurrentChange(DomainError):
    """Someone else changed the same thing first; look again and retry if still wanted."""

    code = "concurrent_change"


@dataclass(frozen=True)
class Shortage:
    """One line that cannot be served: what was asked and what is left."""

    variant_id: int
    title: str
    requested: int
    available: int


@dataclass
class OutOfStock(DomainError):
    shortages: list[Shortage] = field(default_factory=list)
    code = "out_of_stock"

    def __post_init__(self) -> None:
        lines = ", ".join(
            f"{s.title}: asked {s.requested}, {s.available} left" for s in self.shortages
        )
        DomainError.__init__(self, f"not enough stock: {lines}")


class EmptyCart(DomainError):
    code = "empty_cart"


class PriceChanged(DomainError):
    """The total the customer agreed to is not what the order would cost now (a price or
    the cart changed meanwhile); show the new total and ask again."""

    code = "price_changed"
