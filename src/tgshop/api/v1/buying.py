"""Buying through the Mini App API: checkout, paying an order, asking for a refund — the
same use cases, checks and words as the bot.

- Checkout checks every delivery answer with the same domain rules as the bot (a bad one is
  a 400 naming the field and the rule) and places the cart only for the total the customer
  agreed to (a changed total is a 409 ``price_changed``).
- Paying: Stars and cards get a Telegram invoice link (for ``Telegram.WebApp.openInvoice``),
  YooKassa and CryptoBot the provider's page, the balance pays at once. Amounts come from
  our database; the request only names the method.
- A refund request is all or nothing, as in the bot; a 409 lists each order refused and why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from tgshop.api.v1.auth import SIGNED_IN, signed_in
from tgshop.api.v1.routes import Id, Responses, cached_model, private
from tgshop.api.v1.schemas import (
    CartOut,
    CheckoutIn,
    CheckoutOut,
    MoneyOut,
    OrderOut,
    PaymentIn,
    PaymentMethod,
    PaymentOut,
    PlacedOut,
    RefundIn,
    RefundOut,
    ShopOut,
)
from tgshop.domain.delivery import (
    DeliveryDetails,
    check_coordinates,
    clean_address,
    clean_comment,
    clean_name,
    parse_phone,
)
from tgshop.domain.errors import InvalidRequest
from tgshop.domain.money import Money
from tgshop.domain.payments import Gateway
from tgshop.i18n.payment_texts import invoice_texts
from tgshop.services.ports import TelegramSendError
from tgshop.services.refund_requests import parse_order_numbers

if TYPE_CHECKING:
    from tgshop.app import Container

_GATEWAYS: dict[PaymentMethod, Gateway] = {
    "stars": Gateway.STARS,
    "card": Gateway.TELEGRAM,
    "yookassa": Gateway.YOOKASSA,
    "cryptobot": Gateway.CRYPTOBOT,
    "wallet": Gateway.WALLET,
}
_METHODS: dict[Gateway, PaymentMethod] = {gateway: method for method, gateway in _GATEWAYS.items()}


def _delivery(body: CheckoutIn, region: str | None) -> DeliveryDetails:
    """The answers, each checked by the rule the bot uses (DeliveryProblem names the field)."""
    location = None
    if (body.latitude is None) != (body.longitude is None):
        raise InvalidRequest("give both latitude and longitude, or neither")
    if body.latitude is not None and body.longitude is not None:
        location = check_coordinates(body.latitude, body.longitude)
    return DeliveryDetails(
        name=clean_name(body.name) if body.name else None,
        phone=parse_phone(body.phone, region) if body.phone else None,
        address=clean_address(body.address) if body.address else None,
        location=location,
        comment=clean_comment(body.comment) if body.comment else None,
    )


def build_buying_routes(container: Container) -> APIRouter:
    router = APIRouter(prefix="/api/v1")
    payments = container.payments
    refused: Responses = {
        401: {"description": "no valid initData"},
        409: {"description": "refused in the current state (see `code`)"},
    }

    def methods() -> list[PaymentMethod]:
        return [_METHODS[g] for g in payments.methods() if g in _METHODS]

    @router.get(
        "/shop",
        tags=["catalog"],
        response_model=ShopOut,
        responses={304: {"description": "the client's copy (If-None-Match) is current"}},
        summary="The shop: its name, currency and the ways it takes money",
    )
    async def shop(request: Request) -> Response:
        settings = container.settings.shop
        body = ShopOut(name=settings.name, currency=settings.currency, payment_methods=methods())
        return cached_model(request, body, 60)

    @router.get(
        "/checkout",
        tags=["checkout"],
        response_model=CheckoutOut,
        openapi_extra=SIGNED_IN,
        responses=refused,
        summary="What checkout needs: the cart, whether to ask for delivery, ways to pay",
    )
    async def review(request: Request) -> JSONResponse:
        caller = await signed_in(request)
        found = await container.checkout.review(caller.customer.id)
        body = CheckoutOut(
            cart=CartOut.of(found.cart),
            needs_delivery=found.needs_delivery,
            saved_phone=found.saved_phone,
            payment_methods=methods(),
        )
        return private(body)

    @router.post(
        "/checkout",
        tags=["checkout"],
        status_code=201,
        response_model=PlacedOut,
        openapi_extra=SIGNED_IN,
        responses={**refused, 400: {"description": "a delivery answer breaks its rule"}},
        summary="Place the cart as an order",
    )
    async def place(request: Request, body: CheckoutIn) -> JSONResponse:
        caller = await signed_in(request)
        details = _delivery(body, container.settings.shop.phone_region)
        order = await container.checkout.place(
            caller.customer.id, details, expected_total=body.expected_total
        )
        placed = PlacedOut(order=OrderOut.of(order), payment_methods=methods())
        return private(placed, 201)

    @router.post(
        "/orders/{order_id}/payment",
        tags=["orders"],
        response_model=PaymentOut,
        openapi_extra=SIGNED_IN,
        responses={
            **refused,
            404: {"description": "no such order of yours"},
            503: {"description": "the payment service did not answer: try again"},
        },
        summary="Pay one of my orders",
    )
    async def pay(request: Request, order_id: Id, body: PaymentIn) -> JSONResponse:
        caller = await signed_in(request)
        customer = caller.customer
        gateway = _GATEWAYS[body.method]
        t = container.translator.get(customer.language)
        if gateway is Gateway.WALLET:
            if body.use_balance:
                raise InvalidRequest("use_balance goes with another method, not the wallet")
            await payments.pay_from_wallet(order_id, customer.id)
            out = PaymentOut(
                method=body.method, status="paid", url=None, amount=None, from_balance=None
            )
        elif gateway in (Gateway.STARS, Gateway.TELEGRAM):
            make = payments.stars_invoice if gateway is Gateway.STARS else payments.card_invoice
            invoice = await make(order_id, customer.id, use_balance=body.use_balance)
            if container.telegram is None:
                raise TelegramSendError("TGSHOP_BOT_TOKEN is not set: no invoice can be made")
            title, description, label = invoice_texts(t, invoice)
            link = await container.telegram.create_invoice_link(
                title=title,
                description=description,
                payload=invoice.payload,
                currency=invoice.currency,
                amount=invoice.amount,
                label=label,
                provider_token=""
                if gateway is Gateway.STARS
                else payments.card_token(invoice.mode) or "",
            )
            out = PaymentOut(
                method=body.method,
                status="invoice",
                url=link,
                amount=MoneyOut.of(Money(invoice.amount, invoice.currency)),
                from_balance=MoneyOut.of(invoice.from_balance) if invoice.from_balance else None,
            )
        else:
            redirect = await payments.provider_checkout(
                order_id,
                customer.id,
                gateway,
                lambda number: t.gettext("bot.pay.invoice_description", number=number),
                use_balance=body.use_balance,
            )
            out = PaymentOut(
                method=body.method,
                status="redirect",
                url=redirect.url,
                amount=MoneyOut.of(redirect.amount),
                from_balance=MoneyOut.of(redirect.from_balance) if redirect.from_balance else None,
            )
        return private(out)

    @router.post(
        "/refunds",
        tags=["orders"],
        status_code=201,
        response_model=list[RefundOut],
        openapi_extra=SIGNED_IN,
        responses=refused,
        summary="Ask for a refund of one or several of my orders",
    )
    async def ask_refund(request: Request, body: RefundIn) -> JSONResponse:
        caller = await signed_in(request)
        numbers = parse_order_numbers(" ".join(body.order_numbers))
        asked = await container.refund_requests.request(caller.customer.id, numbers, body.reason)
        return private([RefundOut.model_validate(c).model_dump(mode="json") for c in asked], 201)

    return router
