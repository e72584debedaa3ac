"""CryptoBot (Crypto Pay API): invoices priced in the shop's fiat currency, paid in crypto.

Rules:
- an invoice is created in the shop currency (``currency_type=fiat``) with our idempotency
  key as its ``payload``; the customer picks one of the configured assets;
- a notification is believed only when its ``crypto-pay-api-signature`` header is the
  HMAC-SHA256 of the raw body keyed with SHA-256 of our API token; its body is then the
  invoice as CryptoBot holds it (no re-read needed);
- ``getInvoices`` reads an invoice when a notification never came;
- Crypto Pay cannot send an invoice's money back: a refund goes to the customer's balance.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import Any

from tgshop.domain.money import Money
from tgshop.payments.http import json_object, new_client, send
from tgshop.services.ports import (
    CheckoutRequest,
    ProviderCheckout,
    ProviderError,
    ProviderPayment,
    ProviderRefund,
    ProviderState,
    RefundsNotSupported,
    WebhookRejected,
)

# The fiat currencies Crypto Pay prices invoices in (its documentation, API 1.5).
FIAT = frozenset(
    {
        "USD",
        "EUR",
        "RUB",
        "BYN",
        "UAH",
        "GBP",
        "CNY",
        "KZT",
        "UZS",
        "GEL",
        "TRY",
        "AMD",
        "THB",
        "INR",
        "BRL",
        "IDR",
        "AZN",
        "AED",
        "PLN",
        "ILS",
    }
)
# Crypto Pay's bounds on expires_in, in seconds.
_MIN_EXPIRY, _MAX_EXPIRY = 60, 2_678_400
_STATES = {
    "active": ProviderState.PENDING,
    "paid": ProviderState.SUCCEEDED,
    "expired": ProviderState.FAILED,
}


class CryptoBotGateway:
    gateway = "cryptobot"
    currencies: frozenset[str] | None = FIAT

    def __init__(self, token: str, base_url: str, assets: list[str]) -> None:
        self._key = hashlib.sha256(token.encode()).digest()
        self._assets = assets
        self._client = new_client(base_url, headers={"Crypto-Pay-API-Token": token})

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        response = await send(self._client, "CryptoBot", "POST", method, json=params)
        data = json_object(response, "CryptoBot")
        if data.get("ok") is not True:
            error = data.get("error")
            name = (error.get("name") if isinstance(error, dict) else None) or (
                f"HTTP {response.status_code}"
            )
            raise ProviderError(f"CryptoBot {method} refused: {name}")
        return data.get("result")

    async def create(self, request: CheckoutRequest) -> ProviderCheckout:
        if request.currency not in FIAT:
            raise ProviderError(f"CryptoBot cannot price an invoice in {request.currency}")
        invoice = await self._call(
            "createInvoice",
            {
                "currency_type": "fiat",
                "fiat": request.currency,
                "amount": Money(request.amount, request.currency).to_decimal_string(),
                "accepted_assets": ",".join(self._assets),
                "description": request.description[:1024],
                "payload": request.key,
                "expires_in": min(max(request.expires_in, _MIN_EXPIRY), _MAX_EXPIRY),
                "allow_comments": False,
                "allow_anonymous": False,
            },
        )
        if not isinstance(invoice, dict) or "invoice_id" not in invoice:
            raise ProviderError("CryptoBot createInvoice answered without an invoice")
        url = invoice.get("bot_invoice_url") or invoice.get("web_app_invoice_url")
        if not isinstance(url, str):
            raise ProviderError("CryptoBot createInvoice answered without a payment link")
        return ProviderCheckout(str(invoice["invoice_id"]), url)

    async def fetch(self, provider_payment_id: str) -> ProviderPayment:
        result = await self._call("getInvoices", {"invoice_ids": provider_payment_id})
        items = result.get("items") if isinstance(result, dict) else None
        for item in items or []:
            if isinstance(item, dict) and str(item.get("invoice_id")) == provider_payment_id:
                return self._payment(item)
        # Deleted in the CryptoBot app, or never ours: nobody can pay it now.
        return ProviderPayment(
            provider_payment_id,
            ProviderState.CANCELLED,
            None,
            None,
            None,
            reason="deleted",  # CryptoBot no longer has this invoice
        )

    async def read_webhook(
        self, body: bytes, headers: Mapping[str, str], client_ip: str | None
    ) -> ProviderPayment | None:
        signature = headers.get("crypto-pay-api-signature")
        if not signature:
            raise WebhookRejected(401, "no crypto-pay-api-signature header")
        expected = hmac.new(self._key, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(signature.strip().lower().encode(), expected.encode()):
            raise WebhookRejected(401, "the crypto-pay-api-signature does not match the body")
        try:
            update = json.loads(body)
        except ValueError:
            raise WebhookRejected(400, "the body is not JSON") from None
        if not isinstance(update, dict):
            raise WebhookRejected(400, "the body is not a CryptoBot update")
        if update.get("update_type") != "invoice_paid":
            return None
        invoice = update.get("payload")
        if not isinstance(invoice, dict) or "invoice_id" not in invoice:
            raise WebhookRejected(400, "the update carries no invoice")
        return self._payment(invoice)

    async def refund(
        self, provider_payment_id: str, amount: int, currency: str, key: str
    ) -> ProviderRefund:
        raise RefundsNotSupported("Crypto Pay cannot send an invoice's money back")

    @staticmethod
    def _payment(invoice: dict[str, Any]) -> ProviderPayment:
        status = str(invoice.get("status"))
        state = _STATES.get(status)
        if state is None:
            raise ProviderError(f"CryptoBot reports an invoice status we do not know: {status}")
        amount: int | None = None
        currency: str | None = None
        if invoice.get("currency_type") == "fiat" and isinstance(invoice.get("fiat"), str):
            currency = invoice["fiat"]
            try:
                amount = Money.parse(str(invoice.get("amount")), currency).amount
            except ValueError:
                raise ProviderError(
                    f"CryptoBot reports an amount we cannot read: {invoice.get('amount')!r}"
                ) from None
        payload = invoice.get("payload")
        return ProviderPayment(
            provider_payment_id=str(invoice["invoice_id"]),
            state=state,
            key=payload if isinstance(payload, str) else None,
            amount=amount,
            currency=currency,
            reason="expired" if status == "expired" else None,
            raw=invoice,
        )
