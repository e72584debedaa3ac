"""A fake CryptoBot (Crypto Pay API): apps, invoices and the ``invoice_paid`` webhook.

Rules, as the real service has them (testnet, API 1.5):
- an app is known by its API token; every invoice belongs to one app and only that app
  reads or deletes it;
- an invoice is priced in a crypto ``asset`` or, with ``currency_type=fiat``, in a ``fiat``
  currency and paid in one of its ``accepted_assets`` (all assets when none are named);
- an invoice is ``active`` until it is paid or its ``expires_in`` runs out (then it reads
  ``expired`` — checked whenever it is read, so no sweeper is needed);
- the webhook body is signed: header ``crypto-pay-api-signature`` = hex HMAC-SHA256 of the
  raw body, keyed with SHA-256 of the app's token.

Exchange rates are fixed (``USD_RATES``, ``FIAT_PER_USD``) and the fee is 3 % of what was
paid, so amounts are predictable in tests. Errors carry the service's names
(``AMOUNT_INVALID``, ``PAYLOAD_TOO_LONG`` ...): ``<PARAMETER>_REQUIRED`` when a parameter is
missing, ``<PARAMETER>_INVALID`` when it is malformed, ``<PARAMETER>_TOO_LONG`` over a limit.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_UP, Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from tgshop.sandbox.provider_hooks import iso_time

BOT_USERNAME = "CryptoTestnetBot"
ASSETS = ("USDT", "TON", "BTC", "ETH", "LTC", "BNB", "TRX", "USDC")
PAID_BUTTONS = ("viewItem", "openChannel", "openBot", "callback")
MAX_EXPIRES_IN = 2_678_400  # 31 days
MAX_COUNT = 1000
LIMITS = {"description": 1024, "hidden_message": 2048, "payload": 4096, "comment": 1024}
# Fixed rates: a test computes the same paid_amount every run.
USD_RATES = {
    "USDT": Decimal(1),
    "USDC": Decimal(1),
    "TON": Decimal("5.2"),
    "BTC": Decimal(65000),
    "ETH": Decimal(3200),
    "LTC": Decimal(80),
    "BNB": Decimal(580),
    "TRX": Decimal("0.12"),
}
# Units of each fiat currency Crypto Pay prices invoices in, per US dollar (fixed).
FIAT_PER_USD = {
    "USD": Decimal("1"),
    "EUR": Decimal("0.92"),
    "RUB": Decimal("90"),
    "BYN": Decimal("3.27"),
    "UAH": Decimal("41"),
    "GBP": Decimal("0.79"),
    "CNY": Decimal("7.2"),
    "KZT": Decimal("480"),
    "UZS": Decimal("12600"),
    "GEL": Decimal("2.7"),
    "TRY": Decimal("32"),
    "AMD": Decimal("390"),
    "THB": Decimal("36"),
    "INR": Decimal("83"),
    "BRL": Decimal("5.4"),
    "IDR": Decimal("16000"),
    "AZN": Decimal("1.7"),
    "AED": Decimal("3.67"),
    "PLN": Decimal("4"),
    "ILS": Decimal("3.7"),
}
FIATS = tuple(FIAT_PER_USD)
FEE_SHARE = Decimal("0.03")
CRYPTO_PLACES = Decimal("0.00000001")


class CryptoPayError(Exception):
    """An API error: HTTP ``code`` and the service's upper-case ``name``."""

    def __init__(self, code: int, name: str) -> None:
        super().__init__(name)
        self.code = code
        self.name = name

    def envelope(self) -> dict[str, Any]:
        return {"ok": False, "error": {"code": self.code, "name": self.name}}


def invalid(name: str, condition: str = "INVALID") -> CryptoPayError:
    return CryptoPayError(400, f"{name.upper()}_{condition}")


def decimal_text(value: Decimal) -> str:
    """A decimal as the API writes it: plain notation, no trailing zeros ("10.5", "100")."""
    return format(value.normalize(), "f")


def sign(token: str, body: bytes) -> str:
    """The ``crypto-pay-api-signature`` of a webhook body."""
    key = hashlib.sha256(token.encode()).digest()
    return hmac.new(key, body, hashlib.sha256).hexdigest()


@dataclass
class CryptoApp:
    app_id: int
    token: str
    name: str
    webhook_url: str | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "app_id": self.app_id,
            "name": self.name,
            "payment_processing_bot_username": BOT_USERNAME,
        }


@dataclass
class CryptoInvoice:
    invoice_id: int
    app: CryptoApp
    hash: str
    currency_type: str  # crypto | fiat
    amount: Decimal
    created_at: float
    web_app_invoice_url: str
    asset: str | None = None
    fiat: str | None = None
    accepted_assets: list[str] = field(default_factory=list)
    description: str | None = None
    hidden_message: str | None = None
    paid_btn_name: str | None = None
    paid_btn_url: str | None = None
    payload: str | None = None
    allow_comments: bool = True
    allow_anonymous: bool = True
    expires_at: float | None = None
    status: str = "active"  # active | paid | expired
    # Set when paid.
    paid: dict[str, Any] = field(default_factory=dict)

    def to_api(self) -> dict[str, Any]:
        bot_url = f"https://t.me/{BOT_USERNAME}?start={self.hash}"
        data: dict[str, Any] = {
            "invoice_id": self.invoice_id,
            "hash": self.hash,
            "currency_type": self.currency_type,
        }
        if self.currency_type == "crypto":
            data["asset"] = self.asset
        else:
            data["fiat"] = self.fiat
            data["accepted_assets"] = list(self.accepted_assets)
        data |= {
            "amount": decimal_text(self.amount),
            "pay_url": bot_url,  # deprecated by the service in favour of bot_invoice_url
            "bot_invoice_url": bot_url,
            "mini_app_invoice_url": (
                f"https://t.me/{BOT_USERNAME}/app?startapp=invoice-{self.hash}&mode=compact"
            ),
            "web_app_invoice_url": self.web_app_invoice_url,
            "status": self.status,
            "created_at": iso_time(self.created_at),
            "allow_comments": self.allow_comments,
            "allow_anonymous": self.allow_anonymous,
        }
        optional = {
            "description": self.description,
            "hidden_message": self.hidden_message,
            "paid_btn_name": self.paid_btn_name,
            "paid_btn_url": self.paid_btn_url,
            "payload": self.payload,
        }
        data |= {key: value for key, value in optional.items() if value is not None}
        if self.expires_at is not None:
            data["expiration_date"] = iso_time(self.expires_at)
        data |= self.paid
        return data


class CryptoParams:
    """Method parameters from a query string or a JSON body: scalars may come as strings."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def given(self, name: str) -> bool:
        return self.values.get(name) not in (None, "")

    def text(self, name: str, *, required: bool = False) -> str | None:
        if not self.given(name):
            if required:
                raise invalid(name, "REQUIRED")
            return None
        value = self.values[name]
        if isinstance(value, (dict, list, bool)):
            raise invalid(name)
        text = str(value)
        limit = LIMITS.get(name)
        if limit is not None and len(text) > limit:
            raise invalid(name, "TOO_LONG")
        return text

    def integer(self, name: str, low: int, high: int, default: int | None = None) -> int | None:
        if not self.given(name):
            return default
        value = self.values[name]
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise invalid(name)
        try:
            number = int(value)
        except ValueError:
            raise invalid(name) from None
        if not low <= number <= high:
            raise invalid(name)
        return number

    def boolean(self, name: str, default: bool) -> bool:
        if not self.given(name):
            return default
        value = self.values[name]
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "1"):
            return True
        if str(value).lower() in ("false", "0"):
            return False
        raise invalid(name)

    def listing(self, name: str) -> list[str]:
        """A comma-separated string (the documented form) or, leniently, a JSON array."""
        if not self.given(name):
            return []
        value = self.values[name]
        if isinstance(value, list):
            items = [str(item) for item in value]
        elif isinstance(value, (str, int)) and not isinstance(value, bool):
            items = str(value).split(",")
        else:
            raise invalid(name)
        return [item.strip() for item in items if item.strip()]


def _amount(params: CryptoParams) -> Decimal:
    text = params.text("amount", required=True)
    try:
        amount = Decimal(str(text))
    except InvalidOperation:
        raise invalid("amount") from None
    if not amount.is_finite() or amount <= 0:
        raise invalid("amount")
    return amount


def _url(value: str | None) -> bool:
    parts = urlsplit(value or "")
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class CryptoPay:
    """Every app and invoice of the fake; ``clock`` may be replaced to move time."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.apps: dict[str, CryptoApp] = {}
        self.invoices: dict[int, CryptoInvoice] = {}
        self._app_ids = itertools.count(10_001)
        self._invoice_ids = itertools.count(1)
        self._update_ids = itertools.count(1)

    # ------------------------------------------------------------------ apps

    def add_app(
        self, token: str, webhook_url: str | None = None, *, name: str = "Sandbox Shop"
    ) -> CryptoApp:
        """Register an app, or change the webhook URL of a known one."""
        if not token:
            raise ValueError("an app needs a token")
        if webhook_url is not None and not _url(webhook_url):
            raise ValueError("webhook_url must be an http(s) URL")
        app = self.apps.get(token)
        if app is None:
            app = self.apps[token] = CryptoApp(next(self._app_ids), token, name, webhook_url)
        else:
            app.webhook_url = webhook_url
        return app

    def app(self, token: str | None) -> CryptoApp:
        app = self.apps.get(token or "")
        if app is None:
            raise CryptoPayError(401, "UNAUTHORIZED")
        return app

    # ------------------------------------------------------------------ invoices

    def current(self, invoice: CryptoInvoice) -> CryptoInvoice:
        """The invoice with its expiry applied (an active invoice past its date expires)."""
        if (
            invoice.status == "active"
            and invoice.expires_at is not None
            and self.clock() >= invoice.expires_at
        ):
            invoice.status = "expired"
        return invoice

    def by_hash(self, invoice_hash: str) -> CryptoInvoice | None:
        for invoice in self.invoices.values():
            if invoice.hash == invoice_hash:
                return self.current(invoice)
        return None

    def create_invoice(self, app: CryptoApp, params: CryptoParams, base_url: str) -> CryptoInvoice:
        currency_type = params.text("currency_type") or "crypto"
        asset = fiat = None
        accepted: list[str] = []
        if currency_type == "crypto":
            asset = params.text("asset", required=True)
            if asset not in ASSETS:
                raise invalid("asset")
        elif currency_type == "fiat":
            fiat = params.text("fiat", required=True)
            if fiat not in FIATS:
                raise invalid("fiat")
            accepted = params.listing("accepted_assets") or list(ASSETS)
            if any(item not in ASSETS for item in accepted):
                raise invalid("accepted_assets")
        else:
            raise invalid("currency_type")
        amount = _amount(params)
        description = params.text("description")
        hidden_message = params.text("hidden_message")
        payload = params.text("payload")
        button = params.text("paid_btn_name")
        button_url = params.text("paid_btn_url")
        if button is not None and button not in PAID_BUTTONS:
            raise invalid("paid_btn_name")
        if button is not None and button_url is None:
            raise invalid("paid_btn_url", "REQUIRED")
        if button_url is not None and not _url(button_url):
            raise invalid("paid_btn_url")
        allow_comments = params.boolean("allow_comments", True)
        allow_anonymous = params.boolean("allow_anonymous", True)
        expires_in = params.integer("expires_in", 1, MAX_EXPIRES_IN)
        created = self.clock()
        invoice_hash = self._new_hash()
        invoice = CryptoInvoice(
            invoice_id=next(self._invoice_ids),
            app=app,
            hash=invoice_hash,
            currency_type=currency_type,
            amount=amount,
            created_at=created,
            web_app_invoice_url=f"{base_url.rstrip('/')}/sandbox/cryptobot/pay/{invoice_hash}",
            asset=asset,
            fiat=fiat,
            accepted_assets=accepted,
            description=description,
            hidden_message=hidden_message,
            paid_btn_name=button,
            paid_btn_url=button_url,
            payload=payload,
            allow_comments=allow_comments,
            allow_anonymous=allow_anonymous,
            expires_at=created + expires_in if expires_in is not None else None,
        )
        self.invoices[invoice.invoice_id] = invoice
        return invoice

    def _new_hash(self) -> str:
        known = {invoice.hash for invoice in self.invoices.values()}
        while True:
            candidate = "IV" + secrets.token_hex(6).upper()
            if candidate not in known:
                return candidate

    def get_invoices(self, app: CryptoApp, params: CryptoParams) -> list[CryptoInvoice]:
        """The app's invoices, newest first, filtered and paged as the method's parameters
        say."""
        asset = params.text("asset")
        if asset is not None and asset not in ASSETS:
            raise invalid("asset")
        fiat = params.text("fiat")
        if fiat is not None and fiat not in FIATS:
            raise invalid("fiat")
        ids: set[int] | None = None
        if params.given("invoice_ids"):
            try:
                ids = {int(item) for item in params.listing("invoice_ids")}
            except ValueError:
                raise invalid("invoice_ids") from None
        status = params.text("status")
        if status is not None and status not in ("active", "paid"):
            raise invalid("status")
        offset = params.integer("offset", 0, 2**31, default=0) or 0
        count = params.integer("count", 1, MAX_COUNT, default=100) or 100
        found = [
            self.current(invoice)
            for invoice in reversed(self.invoices.values())
            if invoice.app is app
            and (ids is None or invoice.invoice_id in ids)
            and (asset is None or invoice.asset == asset)
            and (fiat is None or invoice.fiat == fiat)
        ]
        if status is not None:
            found = [invoice for invoice in found if invoice.status == status]
        return found[offset : offset + count]

    def delete_invoice(self, app: CryptoApp, params: CryptoParams) -> bool:
        invoice_id = params.integer("invoice_id", 1, 2**63)
        if invoice_id is None:
            raise invalid("invoice_id", "REQUIRED")
        invoice = self.invoices.get(invoice_id)
        if invoice is None or invoice.app is not app:
            raise CryptoPayError(400, "INVOICE_NOT_FOUND")
        del self.invoices[invoice_id]
        return True

    # ------------------------------------------------------------------ what the payer does

    def pay(
        self,
        invoice: CryptoInvoice,
        asset: str | None = None,
        *,
        comment: str | None = None,
        anonymous: bool = False,
    ) -> CryptoInvoice:
        """Mark an active invoice paid in ``asset`` at the fixed rates. Raises ValueError
        for a payment the service would not take (LookupError: the invoice is not active)."""
        if self.current(invoice).status != "active":
            raise LookupError(f"the invoice is {invoice.status}, not active")
        accepted = [invoice.asset] if invoice.asset else invoice.accepted_assets
        asset = asset or accepted[0]
        if asset not in accepted:
            raise ValueError(f"{asset} is not accepted: pay in {', '.join(accepted)}")
        if comment is not None and (not invoice.allow_comments or len(comment) > 1024):
            raise ValueError("this invoice takes no comment (or it is over 1024 characters)")
        if anonymous and not invoice.allow_anonymous:
            raise ValueError("this invoice cannot be paid anonymously")
        usd_rate = USD_RATES[asset]
        paid: dict[str, Any] = {
            "paid_at": iso_time(self.clock()),
            "paid_asset": asset,
            "paid_usd_rate": decimal_text(usd_rate),
            "paid_anonymously": anonymous,
        }
        if invoice.fiat is not None:
            fiat_rate = usd_rate * FIAT_PER_USD[invoice.fiat]
            amount = (invoice.amount / fiat_rate).quantize(CRYPTO_PLACES, ROUND_UP)
            paid["paid_fiat_rate"] = decimal_text(fiat_rate)
        else:
            amount = invoice.amount
        paid["paid_amount"] = decimal_text(amount)
        paid["fee_asset"] = asset
        paid["fee_amount"] = decimal_text((amount * FEE_SHARE).quantize(CRYPTO_PLACES, ROUND_UP))
        if comment is not None:
            paid["comment"] = comment
        invoice.status = "paid"
        invoice.paid = paid
        return invoice

    def expire(self, invoice: CryptoInvoice) -> CryptoInvoice:
        if self.current(invoice).status != "active":
            raise LookupError(f"the invoice is {invoice.status}, not active")
        invoice.status = "expired"
        return invoice

    def paid_update(self, invoice: CryptoInvoice) -> bytes:
        """The raw body of the ``invoice_paid`` webhook for a paid invoice."""
        update = {
            "update_id": next(self._update_ids),
            "update_type": "invoice_paid",
            "request_date": iso_time(self.clock()),
            "payload": invoice.to_api(),
        }
        return json.dumps(update, ensure_ascii=False, separators=(",", ":")).encode()
