"""YooKassa (API v3 over httpx; its official SDK is synchronous): cards and wallets on a
YooKassa payment page.

Rules:
- a payment is created with our idempotency key as its ``Idempotence-Key`` (a retry returns
  the same payment) and in its metadata (so the payment leads back to ours);
- confirmation is a redirect: the customer pays on YooKassa's page and comes back to the
  configured return URL; money is captured at once (``capture: true``);
- YooKassa does not sign notifications: one is only a hint to re-read the payment from the
  API, and only that answer is believed. An optional list of networks limits where
  notifications may come from;
- refunds go through the API, with their own idempotency key, in part or in full.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from typing import Any

import httpx

from tgshop.domain.money import Money
from tgshop.payments.http import json_object, new_client, send
from tgshop.services.ports import (
    CheckoutRequest,
    ProviderCheckout,
    ProviderError,
    ProviderPayment,
    ProviderRefund,
    ProviderState,
    WebhookRejected,
)

_KEY_FIELD = "tgshop_key"  # our idempotency key, in the payment's metadata


class YooKassaGateway:
    gateway = "yookassa"
    currencies: frozenset[str] | None = None  # the shop's contract decides; YooKassa says no

    def __init__(
        self,
        shop_id: str,
        secret_key: str,
        base_url: str,
        return_url: str,
        allowed_networks: list[str],
    ) -> None:
        self._return_url = return_url
        self._networks = [ipaddress.ip_network(n, strict=False) for n in allowed_networks]
        self._client = new_client(base_url, auth=httpx.BasicAuth(shop_id, secret_key))

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(
        self, method: str, path: str, *, key: str | None = None, body: Any = None
    ) -> dict[str, Any]:
        headers = {"Idempotence-Key": key} if key is not None else None
        response = await send(self._client, "YooKassa", method, path, headers=headers, json=body)
        data = json_object(response, "YooKassa")
        if response.status_code >= 400:
            detail = data.get("description") or data.get("code") or "no reason given"
            parameter = f" ({data['parameter']})" if data.get("parameter") else ""
            raise ProviderError(
                f"YooKassa refused {method} {path}: HTTP {response.status_code}, "
                f"{data.get('code', 'error')}: {detail}{parameter}"
            )
        return data

    async def create(self, request: CheckoutRequest) -> ProviderCheckout:
        payment = await self._call(
            "POST",
            "payments",
            key=request.key,
            body={
                "amount": _amount(request.amount, request.currency),
                "capture": True,
                "confirmation": {
                    "type": "redirect",
                    "return_url": request.return_url or self._return_url,
                },
                "description": request.description[:128],
                "metadata": {_KEY_FIELD: request.key},
            },
        )
        confirmation = payment.get("confirmation")
        url = confirmation.get("confirmation_url") if isinstance(confirmation, dict) else None
        if not isinstance(payment.get("id"), str) or not isinstance(url, str):
            raise ProviderError("YooKassa created a payment without an id or a payment page")
        return ProviderCheckout(payment["id"], url)

    async def fetch(self, provider_payment_id: str) -> ProviderPayment:
        return _payment(await self._call("GET", f"payments/{provider_payment_id}"))

    async def read_webhook(
        self, body: bytes, headers: Mapping[str, str], client_ip: str | None
    ) -> ProviderPayment | None:
        if self._networks:
            try:
                address = ipaddress.ip_address(client_ip or "")
            except ValueError:
                raise WebhookRejected(403, "the sender's address is unknown") from None
            if not any(address in network for network in self._networks):
                raise WebhookRejected(403, f"{address} is not an allowed YooKassa address")
        try:
            notification = json.loads(body)
        except ValueError:
            raise WebhookRejected(400, "the body is not JSON") from None
        if not isinstance(notification, dict) or notification.get("type") != "notification":
            raise WebhookRejected(400, "the body is not a YooKassa notification")
        event = str(notification.get("event", ""))
        subject = notification.get("object")
        if not event.startswith("payment."):
            return None  # refund.succeeded and the like: our refund call already knows
        if not isinstance(subject, dict) or not isinstance(subject.get("id"), str):
            raise WebhookRejected(400, "the notification names no payment")
        # Never the notification's word: what the API says now.
        return await self.fetch(subject["id"])

    async def refund(
        self, provider_payment_id: str, amount: int, currency: str, key: str
    ) -> ProviderRefund:
        refund = await self._call(
            "POST",
            "refunds",
            key=key,
            body={"payment_id": provider_payment_id, "amount": _amount(amount, currency)},
        )
        status = refund.get("status")
        if status == "canceled":
            details = refund.get("cancellation_details") or {}
            raise ProviderError(f"YooKassa cancelled the refund: {details.get('reason')}")
        if not isinstance(refund.get("id"), str):
            raise ProviderError("YooKassa answered a refund without an id")
        return ProviderRefund(refund["id"], done=status == "succeeded")


def _amount(amount: int, currency: str) -> dict[str, str]:
    return {"value": Money(amount, currency).to_decimal_string(), "currency": currency}


def _payment(payment: dict[str, Any]) -> ProviderPayment:
    status = payment.get("status")
    reason = None
    if status in ("pending", "waiting_for_capture"):
        state = ProviderState.PENDING
    elif status == "succeeded":
        state = ProviderState.SUCCEEDED
    elif status == "canceled":
        details = payment.get("cancellation_details") or {}
        reason = str(details.get("reason") or "canceled")
        # The shop called it off, or the bank / YooKassa declined it.
        state = (
            ProviderState.CANCELLED
            if details.get("party") == "merchant"
            else (ProviderState.FAILED)
        )
    else:
        raise ProviderError(f"YooKassa reports a payment status we do not know: {status}")
    money = payment.get("amount")
    if not isinstance(money, dict) or not isinstance(payment.get("id"), str):
        raise ProviderError("YooKassa answered a payment without an id or an amount")
    currency = str(money.get("currency"))
    try:
        amount = Money.parse(str(money.get("value")), currency).amount
    except ValueError:
        raise ProviderError(f"YooKassa reports an amount we cannot read: {money!r}") from None
    metadata = payment.get("metadata")
    key = metadata.get(_KEY_FIELD) if isinstance(metadata, dict) else None
    test = payment.get("test")
    return ProviderPayment(
        provider_payment_id=payment["id"],
        state=state,
        key=key if isinstance(key, str) else None,
        amount=amount,
        currency=currency,
        reason=reason,
        test=test if isinstance(test, bool) else None,
        raw=payment,
    )
