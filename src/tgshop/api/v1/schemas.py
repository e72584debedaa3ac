"""What the Mini App API sends and accepts (the OpenAPI schema is built from these).

Money is always ``{"amount": minor units, "currency": ISO 4217 or XTR, "display": text}``,
read from our database: a client never sends a price, and a body with fields we do not
know is refused (422), so a price a client slips in is never mistaken for an instruction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tgshop.domain.money import Money
from tgshop.services.cart import CartView
from tgshop.services.catalog import CategoryNode, ProductDetail, ProductSummary
from tgshop.services.order_views import OrderView
from tgshop.services.users import UserView


class _FromViews(BaseModel):
    """Read from the use cases' plain values, field by field, by name."""

    model_config = ConfigDict(from_attributes=True)


class MoneyOut(BaseModel):
    amount: int = Field(description="minor units (cents; Stars for XTR)", examples=[990])
    currency: str = Field(examples=["USD"])
    display: str = Field(examples=["9.90 USD"])

    @model_validator(mode="before")
    @classmethod
    def _from_money(cls, value: Any) -> Any:
        if isinstance(value, Money):
            return {"amount": value.amount, "currency": value.currency, "display": str(value)}
        return value

    @classmethod
    def of(cls, money: Money) -> MoneyOut:
        # Built from our own typed value: nothing to validate (the catalog list builds 20+).
        return cls.model_construct(amount=money.amount, currency=money.currency, display=str(money))


class CategoryOut(BaseModel):
    id: int
    key: str = Field(examples=["green-tea"])
    title: str = Field(examples=["Green tea"])
    description: str
    children: list[CategoryOut] = []

    @classmethod
    def of(cls, node: CategoryNode) -> CategoryOut:
        return cls(
            id=node.id,
            key=node.key,
            title=node.title,
            description=node.description,
            children=[cls.of(child) for child in node.children],
        )


class CategoryTree(BaseModel):
    items: list[CategoryOut] = Field(description="the top categories, each with its children")


def media_url(media_id: int) -> str:
    return f"/api/v1/media/{media_id}"


class ProductSummaryOut(BaseModel):
    id: int
    key: str = Field(examples=["sencha"])
    title: str = Field(examples=["Sencha"])
    kind: str = Field(examples=["physical"])
    category_id: int | None
    price_from: MoneyOut
    in_stock: bool
    image_url: str | None = Field(examples=["/api/v1/media/7"])

    @staticmethod
    def plain(item: ProductSummary) -> dict[str, Any]:
        """The JSON of one summary as a plain dict, the same fields as the model: a page
        builds 20 and 100 at most, and a model each cost more than the rest of the answer."""
        price = item.price_from
        return {
            "id": item.id,
            "key": item.key,
            "title": item.title,
            "kind": item.kind,
            "category_id": item.category_id,
            "price_from": {
                "amount": price.amount,
                "currency": price.currency,
                "display": str(price),
            },
            "in_stock": item.in_stock,
            "image_url": media_url(item.image_id) if item.image_id is not None else None,
        }


class ProductPage(BaseModel):
    items: list[ProductSummaryOut]
    total: int = Field(description="products matching the filters")
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null on the last page"
    )


class VariantOut(BaseModel):
    id: int
    sku: str = Field(examples=["SEN-100"])
    title: str = Field(examples=["100 g"])
    price: MoneyOut
    stars_price: int | None = Field(description="its own price in Telegram Stars, if any")
    in_stock: bool
    available: int | None = Field(description="units left; null = not counted (unlimited)")


class ProductOut(BaseModel):
    id: int
    key: str
    title: str
    description: str
    kind: str
    category_id: int | None
    variants: list[VariantOut]
    image_urls: list[str]

    @classmethod
    def of(cls, product: ProductDetail) -> ProductOut:
        return cls(
            id=product.id,
            key=product.key,
            title=product.title,
            description=product.description,
            kind=product.kind,
            category_id=product.category_id,
            variants=[
                VariantOut(
                    id=v.id,
                    sku=v.sku,
                    title=v.title,
                    price=MoneyOut.of(v.price),
                    stars_price=v.stars_price,
                    in_stock=v.in_stock,
                    available=None if v.unlimited else v.available,
                )
                for v in product.variants
            ],
            image_urls=[media_url(media_id) for media_id in product.image_ids],
        )


class MeOut(BaseModel):
    id: int
    telegram_id: int
    first_name: str
    last_name: str | None
    username: str | None
    language: str = Field(examples=["en"])
    balance: MoneyOut

    @classmethod
    def of(cls, user: UserView, balance: Money) -> MeOut:
        return cls(
            id=user.id,
            telegram_id=user.telegram_id,
            first_name=user.first_name,
            last_name=user.last_name,
            username=user.username,
            language=user.language,
            balance=MoneyOut.of(balance),
        )


class CartLineOut(_FromViews):
    variant_id: int
    product_id: int
    product_title: str
    variant_title: str
    sku: str
    kind: str
    quantity: int
    unit_price: MoneyOut
    line_total: MoneyOut
    available: int | None = Field(description="units left; null = not counted (unlimited)")
    problem: str | None = Field(
        description="why this line cannot be ordered as it is: unavailable or insufficient"
    )


class CartOut(_FromViews):
    lines: list[CartLineOut]
    total: MoneyOut
    item_count: int

    @classmethod
    def of(cls, cart: CartView) -> CartOut:
        return cls.model_validate(cart)


class CartQuantityIn(BaseModel):
    """How many of a variant the cart should hold (0 takes the line out)."""

    model_config = ConfigDict(extra="forbid")

    quantity: int = Field(ge=0, le=100_000, examples=[2])


class OrderItemOut(_FromViews):
    sku: str
    title: str
    variant_title: str
    kind: str
    quantity: int
    unit_price: MoneyOut
    total: MoneyOut


class OrderEventOut(_FromViews):
    from_status: str | None
    to_status: str
    actor: str = Field(description="customer, staff or system")
    note: str | None
    at: datetime


class OrderOut(_FromViews):
    id: int
    number: str = Field(examples=["A00042"])
    status: str = Field(examples=["awaiting_payment"])
    payment_status: str = Field(examples=["unpaid"])
    total: MoneyOut
    items: list[OrderItemOut]
    history: list[OrderEventOut] = Field(validation_alias="events")
    delivery: dict[str, Any]
    tracking_number: str | None
    created_at: datetime
    expires_at: datetime | None = Field(description="an unpaid order is held until then")

    @classmethod
    def of(cls, order: OrderView) -> OrderOut:
        return cls.model_validate(order)


class OrderList(BaseModel):
    items: list[OrderOut]
    next_offset: int | None = Field(
        description="pass as `offset` for older orders; null at the end"
    )


PaymentMethod = Literal["stars", "card", "yookassa", "cryptobot", "wallet"]


class ShopOut(BaseModel):
    name: str = Field(examples=["Tea House"])
    currency: str = Field(description="the shop's currency (ISO 4217)", examples=["USD"])
    payment_methods: list[PaymentMethod] = Field(description="the ways this shop takes money")


class CheckoutOut(BaseModel):
    """What checkout needs before asking anything."""

    cart: CartOut
    needs_delivery: bool = Field(description="physical goods: name, phone and address needed")
    saved_phone: str | None = Field(description="the phone this customer gave last time")
    payment_methods: list[PaymentMethod]


class CheckoutIn(BaseModel):
    """Delivery details (needed when something physical is in the cart) and the total the
    customer agreed to; each answer is checked as in the bot."""

    model_config = ConfigDict(extra="forbid")

    expected_total: int = Field(
        ge=0,
        description="minor units, as shown to the customer; a changed total is refused (409)",
        examples=[5000],
    )
    name: str | None = Field(default=None, max_length=200, examples=["Ann Smith"])
    phone: str | None = Field(default=None, max_length=40, examples=["+44 20 7946 0958"])
    address: str | None = Field(default=None, max_length=600, examples=["1 Tea Lane, London"])
    comment: str | None = Field(default=None, max_length=600)
    latitude: float | None = None
    longitude: float | None = None


class PlacedOut(BaseModel):
    order: OrderOut
    payment_methods: list[PaymentMethod]


class PaymentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: PaymentMethod
    use_balance: bool = Field(
        default=False,
        description="the balance pays part, the method the rest (not with method=wallet)",
    )


class PaymentOut(BaseModel):
    method: PaymentMethod
    status: Literal["invoice", "redirect", "paid"] = Field(
        description=(
            "invoice: open `url` with Telegram.WebApp.openInvoice; redirect: open `url` "
            "(the provider's page); paid: nothing more to do"
        )
    )
    url: str | None
    amount: MoneyOut | None = Field(description="what the method charges")
    from_balance: MoneyOut | None = Field(description="what the balance adds (mixed payment)")


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_numbers: list[str] = Field(min_length=1, max_length=10, examples=[["A00012"]])
    reason: str = Field(min_length=3, max_length=500, examples=["The box arrived crushed"])


class RefundOut(_FromViews):
    id: int
    number: str = Field(description="the order number", examples=["A00012"])
    amount: MoneyOut
    status: str = Field(examples=["requested"])
