"""A fake YooKassa (API v3): shops, one-stage payments with a redirect, refunds, and
notifications.

Rules, as the real service has them:
- a shop is known by its ``shopId`` and secret key (HTTP Basic); it sees only its own
  payments and refunds — another shop's id is 404, not 403;
- a payment starts ``pending`` and waits for the payer on the confirmation page, then
  becomes ``succeeded`` (paid, refundable) or ``canceled`` (with ``cancellation_details``);
- amounts are decimal strings with at most the currency's minor-unit digits (2 for every
  currency the fake knows) and are always answered with exactly that many;
- a refund needs a succeeded payment in the same currency, and all refunds of a payment
  together stay within its amount; a fully refunded payment is no longer ``refundable``;
- notifications are not signed: ``{"type": "notification", "event": ..., "object": ...}``
  is only a hint, and a careful receiver re-reads the payment from the API.

Not emulated: two-stage payments (``capture: false``, ``waiting_for_capture``, capture),
confirmation types other than ``redirect``, receipts (54-FZ), saved payment methods,
payouts, deals, list endpoints, and a pending payment expiring by itself (cancel it with
reason ``expired_on_confirmation`` from the control API instead).
"""

from __future__ import annotations

import copy
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from tgshop.sandbox.provider_hooks import iso_time

# Minor-unit digits of the currencies the fake accepts (YooKassa's list; all have 2).
_CODES = ("RUB", "USD", "EUR", "BYN", "CNY", "KZT", "UAH", "UZS", "TRY", "INR", "MDL", "AZN")
CURRENCIES = dict.fromkeys((*_CODES, "GEL", "KGS", "TJS", "AMD"), 2)
COMMISSION = Decimal("0.035")  # what income_amount leaves out, like a typical contract
MAX_DESCRIPTION = 128
MAX_REFUND_DESCRIPTION = 250
MAX_METADATA_KEYS, MAX_METADATA_KEY, MAX_METADATA_VALUE = 16, 32, 512
MAX_IDEMPOTENCE_KEY = 64
IDEMPOTENCE_TTL = 24 * 3600.0  # a key is remembered for 24 hours
PARTIES = ("yoo_money", "payment_network", "merchant")
REASONS = (
    "3d_secure_failed",
    "call_issuer",
    "canceled_by_merchant",
    "card_expired",
    "country_forbidden",
    "expired_on_capture",
    "expired_on_confirmation",
    "fraud_suspected",
    "general_decline",
    "identification_required",
    "insufficient_funds",
    "internal_timeout",
    "invalid_card_number",
    "invalid_csc",
    "issuer_unavailable",
    "payment_method_limit_exceeded",
    "payment_method_restricted",
    "permission_revoked",
    "unsupported_mobile_operator",
)


class YooKassaError(Exception):
    """An API error as YooKassa answers it: HTTP status, ``code`` and, for a bad request,
    the ``parameter`` at fault."""

    def __init__(
        self, status: int, code: str, description: str, parameter: str | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.code = code
        self.description = description
        self.parameter = parameter

    def to_api(self) -> dict[str, Any]:
        data = {
            "type": "error",
            "id": str(uuid.uuid4()),
            "code": self.code,
            "description": self.description,
        }
        if self.parameter is not None:
            data["parameter"] = self.parameter
        return data


def bad(description: str, parameter: str | None = None) -> YooKassaError:
    return YooKassaError(400, "invalid_request", description, parameter)


def not_found() -> YooKassaError:
    return YooKassaError(404, "not_found", "Object not found")


def money(value: Decimal, currency: str) -> dict[str, str]:
    places = CURRENCIES.get(currency, 2)
    return {"value": f"{value:.{places}f}", "currency": currency}


def parse_amount(data: Any, parameter: str = "amount") -> tuple[Decimal, str]:
    """``{"value": "100.00", "currency": "RUB"}`` → (Decimal, currency), or a 400 naming
    the part at fault."""
    if not isinstance(data, dict):
        raise bad("Amount is required: an object with value and currency", parameter)
    currency = data.get("currency")
    if not isinstance(currency, str) or currency not in CURRENCIES:
        raise bad(f"Unsupported currency: {currency!r}", f"{parameter}.currency")
    raw = data.get("value")
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise bad("Amount value must be a decimal string", f"{parameter}.value")
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        raise bad("Amount value must be a decimal string", f"{parameter}.value") from None
    step = Decimal(1).scaleb(-CURRENCIES[currency])
    if not value.is_finite() or value <= 0 or value != value.quantize(step):
        raise bad(
            f"Amount value must be positive with at most {CURRENCIES[currency]} decimal "
            f"places for {currency}",
            f"{parameter}.value",
        )
    return value, currency


def _http_url(value: Any) -> bool:
    if not isinstance(value, str) or len(value) > 2048:
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


@dataclass
class YooKassaShop:
    shop_id: str
    secret_key: str
    webhook_url: str | None = None


@dataclass
class YooPayment:
    id: str
    shop: YooKassaShop
    amount: Decimal
    currency: str
    created_at: float
    return_url: str
    confirmation_url: str
    description: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    status: str = "pending"  # pending | succeeded | canceled
    paid: bool = False
    captured_at: float | None = None
    payment_method: dict[str, Any] | None = None
    cancellation_details: dict[str, str] | None = None
    refunded: Decimal = Decimal(0)

    @property
    def refundable(self) -> bool:
        return self.status == "succeeded" and self.refunded < self.amount

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "amount": money(self.amount, self.currency),
        }
        if self.status == "succeeded":
            income = self.amount - (self.amount * COMMISSION).quantize(
                Decimal("0.01"), ROUND_HALF_UP
            )
            data["income_amount"] = money(income, self.currency)
        if self.description is not None:
            data["description"] = self.description
        data["recipient"] = {"account_id": self.shop.shop_id, "gateway_id": "sandbox"}
        if self.payment_method is not None:
            data["payment_method"] = self.payment_method
        if self.captured_at is not None:
            data["captured_at"] = iso_time(self.captured_at)
        data["created_at"] = iso_time(self.created_at)
        if self.status == "pending":
            data["confirmation"] = {
                "type": "redirect",
                "return_url": self.return_url,
                "confirmation_url": self.confirmation_url,
            }
        data["test"] = True
        if self.status == "succeeded":
            data["refunded_amount"] = money(self.refunded, self.currency)
        data["paid"] = self.paid
        data["refundable"] = self.refundable
        data["metadata"] = dict(self.metadata)
        if self.cancellation_details is not None:
            data["cancellation_details"] = dict(self.cancellation_details)
        return data


@dataclass
class YooRefund:
    id: str
    payment: YooPayment
    amount: Decimal
    created_at: float
    description: str | None = None

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "payment_id": self.payment.id,
            "status": "succeeded",
            "created_at": iso_time(self.created_at),
            "amount": money(self.amount, self.payment.currency),
        }
        if self.description is not None:
            data["description"] = self.description
        return data


@dataclass
class StoredAnswer:
    """An answer kept under an Idempotence-Key, with what the request looked like."""

    fingerprint: str
    status: int
    body: dict[str, Any]
    at: float


class YooKassa:
    """Every shop, payment, refund and remembered idempotent answer of the fake; ``clock``
    may be replaced to move time."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.shops: dict[str, YooKassaShop] = {}
        self.payments: dict[str, YooPayment] = {}
        self.refunds: dict[str, YooRefund] = {}
        self.answers: dict[tuple[str, str], StoredAnswer] = {}

    # ------------------------------------------------------------------ shops

    def add_shop(
        self, shop_id: str, secret_key: str, webhook_url: str | None = None
    ) -> YooKassaShop:
        """Register a shop, or change the key and webhook URL of a known one."""
        if not shop_id or ":" in shop_id or not secret_key:
            raise ValueError("a shop needs a shop_id (without ':') and a secret_key")
        if webhook_url is not None and not _http_url(webhook_url):
            raise ValueError("webhook_url must be an http(s) URL")
        shop = self.shops.get(shop_id)
        if shop is None:
            shop = self.shops[shop_id] = YooKassaShop(shop_id, secret_key, webhook_url)
        else:
            shop.secret_key, shop.webhook_url = secret_key, webhook_url
        return shop

    # ------------------------------------------------------------------ idempotence

    def remembered(self, shop: YooKassaShop, key: str, fingerprint: str) -> StoredAnswer | None:
        """The answer given for this key, if any; a different request under the same key
        is refused."""
        stored = self.answers.get((shop.shop_id, key))
        if stored is None or self.clock() - stored.at > IDEMPOTENCE_TTL:
            return None
        if stored.fingerprint != fingerprint:
            raise bad(
                "Idempotence key duplicated: it was already used for another request",
                "Idempotence-Key",
            )
        return stored

    def remember(
        self, shop: YooKassaShop, key: str, fingerprint: str, status: int, body: dict[str, Any]
    ) -> None:
        self.answers[(shop.shop_id, key)] = StoredAnswer(fingerprint, status, body, self.clock())

    # ------------------------------------------------------------------ payments

    def payment(self, shop: YooKassaShop, payment_id: str) -> YooPayment:
        payment = self.payments.get(payment_id)
        if payment is None or payment.shop is not shop:
            raise not_found()
        return payment

    def create_payment(self, shop: YooKassaShop, body: dict[str, Any], base_url: str) -> YooPayment:
        amount, currency = parse_amount(body.get("amount"))
        capture = body.get("capture", False)
        if not isinstance(capture, bool):
            raise bad("capture must be a boolean", "capture")
        if not capture:
            raise bad(
                "Two-stage payments (capture: false) are not supported by the sandbox: "
                "send capture: true",
                "capture",
            )
        confirmation = body.get("confirmation")
        if not isinstance(confirmation, dict):
            raise bad("Confirmation is required", "confirmation")
        if confirmation.get("type") != "redirect":
            raise bad(
                "Only the redirect confirmation type is supported by the sandbox",
                "confirmation.type",
            )
        return_url = confirmation.get("return_url")
        if not _http_url(return_url):
            raise bad("return_url must be an http(s) URL", "confirmation.return_url")
        description = body.get("description")
        if description is not None and (
            not isinstance(description, str) or len(description) > MAX_DESCRIPTION
        ):
            raise bad(
                f"description must be a string of at most {MAX_DESCRIPTION} characters",
                "description",
            )
        metadata = _metadata(body.get("metadata"))
        payment_id = str(uuid.uuid4())
        payment = YooPayment(
            id=payment_id,
            shop=shop,
            amount=amount,
            currency=currency,
            created_at=self.clock(),
            return_url=str(return_url),
            confirmation_url=f"{base_url.rstrip('/')}/sandbox/yookassa/checkout/{payment_id}",
            description=description,
            metadata=metadata,
        )
        self.payments[payment_id] = payment
        return payment

    def cancel_by_merchant(self, payment: YooPayment) -> YooPayment:
        if payment.status not in ("pending", "waiting_for_capture"):
            raise bad(f"A payment in status {payment.status} cannot be canceled")
        self._cancel(payment, "merchant", "canceled_by_merchant")
        return payment

    def succeed(self, payment: YooPayment) -> YooPayment:
        """The payer paid on the checkout page (LookupError: the payment is not pending)."""
        if payment.status != "pending":
            raise LookupError(f"the payment is {payment.status}, not pending")
        self._succeed(payment)
        return payment

    def decline(self, payment: YooPayment, reason: str, party: str = "yoo_money") -> YooPayment:
        """The payment failed (LookupError: it is no longer pending; ValueError: unknown
        reason or party)."""
        if reason not in REASONS:
            raise ValueError(f"reason must be one of {', '.join(REASONS)}")
        if party not in PARTIES:
            raise ValueError(f"party must be one of {', '.join(PARTIES)}")
        if payment.status not in ("pending", "waiting_for_capture"):
            raise LookupError(f"the payment is {payment.status}, not pending")
        self._cancel(payment, party, reason)
        return payment

    def imagined(self, payment: YooPayment, event: str) -> dict[str, Any]:
        """What the payment would look like after ``event`` — for a forged notification;
        the stored payment does not change."""
        copied = copy.copy(payment)
        if event == "payment.succeeded":
            self._succeed(copied)
        elif event == "payment.canceled":
            self._cancel(copied, "yoo_money", "expired_on_confirmation")
        elif event == "payment.waiting_for_capture":
            copied.status, copied.paid = "waiting_for_capture", True
        else:
            raise ValueError(
                "event must be payment.succeeded, payment.canceled or payment.waiting_for_capture"
            )
        return copied.to_api()

    def _succeed(self, payment: YooPayment) -> None:
        payment.status, payment.paid = "succeeded", True
        payment.captured_at = self.clock()
        payment.payment_method = {
            "type": "bank_card",
            "id": payment.id,
            "saved": False,
            "title": "Bank card *4444",
            "card": {
                "first6": "411111",
                "last4": "4444",
                "expiry_year": "2030",
                "expiry_month": "12",
                "card_type": "Visa",
                "issuer_country": "RU",
            },
        }

    @staticmethod
    def _cancel(payment: YooPayment, party: str, reason: str) -> None:
        payment.status, payment.paid = "canceled", False
        payment.cancellation_details = {"party": party, "reason": reason}

    # ------------------------------------------------------------------ refunds

    def refund(self, shop: YooKassaShop, refund_id: str) -> YooRefund:
        refund = self.refunds.get(refund_id)
        if refund is None or refund.payment.shop is not shop:
            raise not_found()
        return refund

    def create_refund(self, shop: YooKassaShop, body: dict[str, Any]) -> YooRefund:
        payment_id = body.get("payment_id")
        if not isinstance(payment_id, str) or not payment_id:
            raise bad("payment_id is required", "payment_id")
        payment = self.payments.get(payment_id)
        if payment is None or payment.shop is not shop:
            raise bad("Payment not found", "payment_id")
        amount, currency = parse_amount(body.get("amount"))
        if payment.status != "succeeded":
            raise bad(
                f"A payment in status {payment.status} cannot be refunded: only succeeded "
                "payments can",
                "payment_id",
            )
        if currency != payment.currency:
            raise bad("The refund currency differs from the payment's", "amount.currency")
        if payment.refunded + amount > payment.amount:
            left = money(payment.amount - payment.refunded, payment.currency)["value"]
            raise bad(f"Refund amount exceeds what is left to refund: {left}", "amount.value")
        description = body.get("description")
        if description is not None and (
            not isinstance(description, str) or len(description) > MAX_REFUND_DESCRIPTION
        ):
            raise bad(
                f"description must be a string of at most {MAX_REFUND_DESCRIPTION} characters",
                "description",
            )
        refund = YooRefund(str(uuid.uuid4()), payment, amount, self.clock(), description)
        payment.refunded += amount
        self.refunds[refund.id] = refund
        return refund


def _metadata(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or len(value) > MAX_METADATA_KEYS:
        raise bad(f"metadata must be an object of at most {MAX_METADATA_KEYS} keys", "metadata")
    for key, item in value.items():
        if len(key) > MAX_METADATA_KEY:
            raise bad(f"metadata keys are at most {MAX_METADATA_KEY} characters", "metadata")
        if not isinstance(item, str) or len(item) > MAX_METADATA_VALUE:
            raise bad(
                f"metadata values are strings of at most {MAX_METADATA_VALUE} characters",
                "metadata",
            )
    return dict(value)


def notification(event: str, payment: dict[str, Any]) -> bytes:
    """The raw body YooKassa POSTs to a shop's notification URL."""
    body = {"type": "notification", "event": event, "object": payment}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
