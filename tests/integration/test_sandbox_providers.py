"""The sandbox's fake CryptoBot and YooKassa over real HTTP: their wire formats, errors,
idempotence, and the webhooks they send (signed or forged) to a receiver served beside
them."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.sandbox import RunningSandbox
from tgshop.sandbox.client import SandboxError
from tgshop.sandbox.runner import serving

pytestmark = pytest.mark.timeout(60)

CRYPTO_TOKEN = "12345:AAtestCryptoPayToken"
SHOP_ID, SECRET_KEY = "506751", "test_secretKey_123"


@dataclass
class Receiver:
    """A shop's webhook endpoint: records every request; answers ``statuses`` in turn,
    then 200."""

    url: str
    hits: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)

    def json(self, index: int = -1) -> Any:
        return json.loads(self.hits[index][1])


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hits: list[tuple[dict[str, str], bytes]] = []
    statuses: list[int] = []

    async def hook(request: Request) -> Response:
        hits.append((dict(request.headers), await request.body()))
        return Response(status_code=statuses.pop(0) if statuses else 200)

    async with serving(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as url:
        yield Receiver(f"{url}/hook", hits, statuses)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


# ---------------------------------------------------------------------------- CryptoBot


async def crypto(
    http: httpx.AsyncClient,
    sandbox: RunningSandbox,
    method: str,
    token: str | None = CRYPTO_TOKEN,
    **params: Any,
) -> httpx.Response:
    headers = {"Crypto-Pay-API-Token": token} if token else {}
    return await http.post(f"{sandbox.url}/cryptobot/api/{method}", json=params, headers=headers)


async def invoice(http: httpx.AsyncClient, sandbox: RunningSandbox, **params: Any) -> Any:
    params = {"currency_type": "fiat", "fiat": "USD", "amount": "10.50", **params}
    answer = await crypto(http, sandbox, "createInvoice", **params)
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]


def verifies(token: str, headers: dict[str, str], body: bytes) -> bool:
    key = hashlib.sha256(token.encode()).digest()
    expected = hmac.new(key, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers.get("crypto-pay-api-signature", ""), expected)


async def test_crypto_auth_and_unknown_methods(
    sandbox: RunningSandbox, http: httpx.AsyncClient
) -> None:
    sandbox.sandbox.add_crypto_app(CRYPTO_TOKEN)
    unauthorized = {"ok": False, "error": {"code": 401, "name": "UNAUTHORIZED"}}
    for token in (None, "999:wrong"):
        answer = await crypto(http, sandbox, "getMe", token)
        assert (answer.status_code, answer.json()) == (401, unauthorized)

    me = await http.get(
        f"{sandbox.url}/cryptobot/api/getMe", headers={"Crypto-Pay-API-Token": CRYPTO_TOKEN}
    )
    assert me.status_code == 200
    assert me.json()["ok"] is True
    assert me.json()["result"]["payment_processing_bot_username"] == "CryptoTestnetBot"
    assert isinstance(me.json()["result"]["app_id"], int)

    missing = await crypto(http, sandbox, "transferEverything")
    assert missing.status_code == 405
    assert missing.json()["error"] == {"code": 405, "name": "METHOD_NOT_FOUND"}


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"amount": "0"}, "AMOUNT_INVALID"),
        ({"amount": "ten"}, "AMOUNT_INVALID"),
        ({"amount": None}, "AMOUNT_REQUIRED"),
        ({"currency_type": "crypto", "asset": "DOGE"}, "ASSET_INVALID"),
        ({"currency_type": "crypto"}, "ASSET_REQUIRED"),
        ({"currency_type": "barter"}, "CURRENCY_TYPE_INVALID"),
        ({"fiat": "XXX"}, "FIAT_INVALID"),
        ({"accepted_assets": "USDT,DOGE"}, "ACCEPTED_ASSETS_INVALID"),
        ({"payload": "x" * 4097}, "PAYLOAD_TOO_LONG"),
        ({"description": "x" * 1025}, "DESCRIPTION_TOO_LONG"),
        ({"hidden_message": "x" * 2049}, "HIDDEN_MESSAGE_TOO_LONG"),
        ({"expires_in": 0}, "EXPIRES_IN_INVALID"),
        ({"expires_in": 2_678_401}, "EXPIRES_IN_INVALID"),
        ({"paid_btn_name": "viewItem"}, "PAID_BTN_URL_REQUIRED"),
        ({"paid_btn_name": "dance", "paid_btn_url": "https://x.test"}, "PAID_BTN_NAME_INVALID"),
        ({"allow_comments": "maybe"}, "ALLOW_COMMENTS_INVALID"),
    ],
)
async def test_create_invoice_names_what_is_wrong(
    sandbox: RunningSandbox, http: httpx.AsyncClient, params: dict[str, Any], name: str
) -> None:
    sandbox.sandbox.add_crypto_app(CRYPTO_TOKEN)
    body = {"currency_type": "fiat", "fiat": "USD", "amount": "5"} | params
    answer = await crypto(http, sandbox, "createInvoice", **body)
    assert answer.status_code == 400
    assert answer.json() == {"ok": False, "error": {"code": 400, "name": name}}


async def test_invoices_look_like_crypto_pay_ones(
    sandbox: RunningSandbox, http: httpx.AsyncClient
) -> None:
    sandbox.sandbox.add_crypto_app(CRYPTO_TOKEN)
    fiat = await invoice(
        http, sandbox, accepted_assets="USDT,TON", payload="order-1", expires_in=600
    )
    assert fiat["currency_type"] == "fiat" and fiat["fiat"] == "USD"
    assert fiat["amount"] == "10.5"
    assert fiat["accepted_assets"] == ["USDT", "TON"]
    assert fiat["status"] == "active" and fiat["payload"] == "order-1"
    assert fiat["bot_invoice_url"] == f"https://t.me/CryptoTestnetBot?start={fiat['hash']}"
    assert fiat["web_app_invoice_url"] == f"{sandbox.url}/sandbox/cryptobot/pay/{fiat['hash']}"
    created = datetime.fromisoformat(fiat["created_at"])
    expires = datetime.fromisoformat(fiat["expiration_date"])
    assert 599 <= (expires - created).total_seconds() <= 601
    assert "paid_at" not in fiat

    # GET with a query string works as well as a JSON body.
    answer = await http.get(
        f"{sandbox.url}/cryptobot/api/createInvoice",
        params={"asset": "TON", "amount": "2.000", "allow_comments": "false"},
        headers={"Crypto-Pay-API-Token": CRYPTO_TOKEN},
    )
    crypto_invoice = answer.json()["result"]
    assert crypto_invoice["invoice_id"] == fiat["invoice_id"] + 1
    assert crypto_invoice["currency_type"] == "crypto" and crypto_invoice["asset"] == "TON"
    assert crypto_invoice["amount"] == "2"
    assert crypto_invoice["allow_comments"] is False
    assert "expiration_date" not in crypto_invoice and "accepted_assets" not in crypto_invoice

    page = await http.get(fiat["web_app_invoice_url"])
    assert page.status_code == 200
    assert "10.5 USD" in page.text and "Let it expire" in page.text
    assert "nonce-" in page.headers["content-security-policy"]
    assert (await http.get(f"{sandbox.url}/sandbox/cryptobot/pay/IVnothing")).status_code == 404


async def test_get_invoices_filters_pages_and_deletes(
    sandbox: RunningSandbox, http: httpx.AsyncClient
) -> None:
    sandbox.sandbox.add_crypto_app(CRYPTO_TOKEN)
    sandbox.sandbox.add_crypto_app("777:other")
    ids = [(await invoice(http, sandbox))["invoice_id"] for _ in range(3)]
    await invoice(http, sandbox, currency_type="crypto", asset="BTC", amount="0.001")
    await sandbox.client.crypto_pay(ids[1], webhook="skip")

    async def items(token: str = CRYPTO_TOKEN, **params: Any) -> list[int]:
        answer = await crypto(http, sandbox, "getInvoices", token, **params)
        assert answer.status_code == 200, answer.text
        return [item["invoice_id"] for item in answer.json()["result"]["items"]]

    assert await items(invoice_ids=f"{ids[0]},{ids[2]}") == [ids[2], ids[0]]
    assert await items(invoice_ids=str(ids[1]), status="active") == []
    assert await items(status="paid") == [ids[1]]
    assert await items(status="active", fiat="USD") == [ids[2], ids[0]]
    assert len(await items(asset="BTC")) == 1
    assert len(await items(count=2)) == 2
    assert len(await items(offset=3, count=10)) == 1
    assert await items("777:other") == []  # another app sees none of them

    for params, name in [
        ({"count": 0}, "COUNT_INVALID"),
        ({"count": 1001}, "COUNT_INVALID"),
        ({"status": "expired"}, "STATUS_INVALID"),
        ({"invoice_ids": "1,two"}, "INVOICE_IDS_INVALID"),
    ]:
        answer = await crypto(http, sandbox, "getInvoices", **params)
        assert (answer.status_code, answer.json()["error"]["name"]) == (400, name)

    deleted = await crypto(http, sandbox, "deleteInvoice", invoice_id=ids[0])
    assert deleted.json() == {"ok": True, "result": True}
    again = await crypto(http, sandbox, "deleteInvoice", invoice_id=ids[0])
    assert (again.status_code, again.json()["error"]["name"]) == (400, "INVOICE_NOT_FOUND")
    foreign = await crypto(http, sandbox, "deleteInvoice", "777:other", invoice_id=ids[2])
    assert foreign.json()["error"]["name"] == "INVOICE_NOT_FOUND"
    assert await items(invoice_ids=str(ids[0])) == []


async def test_paying_sends_a_signed_invoice_paid_update(
    sandbox: RunningSandbox, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    await sandbox.client.add_crypto_app(CRYPTO_TOKEN, receiver.url)
    created = await invoice(http, sandbox, amount="130", accepted_assets="USDT,TON")

    paid = await sandbox.client.crypto_pay(created["invoice_id"], asset="TON")
    assert paid["webhook"] == {"status": 200, "error": None, "attempts": 1}
    assert paid["invoice"]["status"] == "paid"

    headers, raw = receiver.hits[0]
    assert len(receiver.hits) == 1
    assert verifies(CRYPTO_TOKEN, headers, raw)
    assert not verifies("another:token", headers, raw)
    update = receiver.json()
    assert update["update_type"] == "invoice_paid" and isinstance(update["update_id"], int)
    datetime.fromisoformat(update["request_date"])
    payload = update["payload"]
    assert payload["invoice_id"] == created["invoice_id"] and payload["status"] == "paid"
    # 130 USD at a fixed 5.2 USD per TON.
    assert (payload["paid_asset"], payload["paid_amount"]) == ("TON", "25")
    assert payload["paid_usd_rate"] == "5.2" and payload["paid_fiat_rate"] == "5.2"
    assert payload["fee_asset"] == "TON" and payload["fee_amount"] == "0.75"
    assert payload["paid_anonymously"] is False
    datetime.fromisoformat(payload["paid_at"])

    listed = await crypto(http, sandbox, "getInvoices", invoice_ids=str(created["invoice_id"]))
    assert listed.json()["result"]["items"][0]["status"] == "paid"
    with pytest.raises(SandboxError, match="paid, not active"):
        await sandbox.client.crypto_pay(created["invoice_id"])
    with pytest.raises(SandboxError, match="not accepted"):
        await sandbox.client.crypto_pay((await invoice(http, sandbox))["invoice_id"], asset="XX")


async def test_forged_and_unsigned_updates_and_skipped_ones(
    sandbox: RunningSandbox, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    sandbox.sandbox.add_crypto_app(CRYPTO_TOKEN, receiver.url)
    first, second, third = [(await invoice(http, sandbox))["invoice_id"] for _ in range(3)]

    await sandbox.client.crypto_pay(first, webhook="bad_signature")
    headers, raw = receiver.hits[-1]
    assert len(headers["crypto-pay-api-signature"]) == 64
    assert not verifies(CRYPTO_TOKEN, headers, raw)

    await sandbox.client.crypto_pay(second, webhook="no_signature")
    assert "crypto-pay-api-signature" not in receiver.hits[-1][0]

    skipped = await sandbox.client.crypto_pay(third, webhook="skip")
    assert skipped["webhook"] == {"status": None, "error": None, "attempts": 0}
    assert len(receiver.hits) == 2


async def test_webhook_delivery_retries_then_reports_the_last_attempt(
    sandbox: RunningSandbox, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    sandbox.sandbox.add_crypto_app(CRYPTO_TOKEN, receiver.url)
    receiver.statuses.extend([500, 503])
    recovered = await sandbox.client.crypto_pay((await invoice(http, sandbox))["invoice_id"])
    assert recovered["webhook"] == {"status": 200, "error": None, "attempts": 3}
    assert len({raw for _, raw in receiver.hits}) == 1  # the same update each time

    receiver.statuses.extend([500, 500, 500])
    failed = await sandbox.client.crypto_pay((await invoice(http, sandbox))["invoice_id"])
    assert failed["webhook"] == {"status": 500, "error": "HTTP 500", "attempts": 3}

    await sandbox.client.add_crypto_app(CRYPTO_TOKEN, "http://127.0.0.1:9/nobody-home")
    gone = await sandbox.client.crypto_pay((await invoice(http, sandbox))["invoice_id"])
    assert gone["webhook"]["status"] is None
    assert gone["webhook"]["error"].startswith("connection failed")


async def test_invoices_expire_by_control_or_by_time(
    sandbox: RunningSandbox, http: httpx.AsyncClient, receiver: Receiver
) -> None:
    sandbox.sandbox.add_crypto_app(CRYPTO_TOKEN, receiver.url)
    now_expired = await invoice(http, sandbox)
    expired = await sandbox.client.crypto_expire(now_expired["invoice_id"])
    assert expired["status"] == "expired"
    with pytest.raises(SandboxError, match="expired"):
        await sandbox.client.crypto_pay(now_expired["invoice_id"])
    with pytest.raises(SandboxError, match="expired"):
        await sandbox.client.crypto_expire(now_expired["invoice_id"])
    assert receiver.hits == []  # CryptoBot has no webhook for expiry

    timed = await invoice(http, sandbox, expires_in=60)
    pay = sandbox.sandbox.cryptopay
    started = pay.clock()
    pay.clock = lambda: started + 61
    listed = await crypto(http, sandbox, "getInvoices", invoice_ids=str(timed["invoice_id"]))
    assert listed.json()["result"]["items"][0]["status"] == "expired"
    active = await crypto(http, sandbox, "getInvoices", status="active")
    assert active.json()["result"]["items"] == []
    statuses = {i["invoice_id"]: i["status"] for i in await sandbox.client.crypto_invoices()}
    assert statuses == {now_expired["invoice_id"]: "expired", timed["invoice_id"]: "expired"}


# ---------------------------------------------------------------------------- YooKassa


@pytest.fixture
async def kassa(sandbox: RunningSandbox) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the fake YooKassa API as the shop's adapter would hold it."""
    async with httpx.AsyncClient(
        base_url=f"{sandbox.url}/yookassa/v3/", auth=(SHOP_ID, SECRET_KEY), timeout=30
    ) as client:
        yield client


def new_payment(value: str = "100.00", **extra: Any) -> dict[str, Any]:
    return {
        "amount": {"value": value, "currency": "RUB"},
        "capture": True,
        "confirmation": {"type": "redirect", "return_url": "https://t.me/tgshop_test_bot"},
        "description": "Order #42",
        "metadata": {"tgshop_key": "order-42"},
        **extra,
    }


async def create(kassa: httpx.AsyncClient, key: str, body: dict[str, Any]) -> httpx.Response:
    return await kassa.post("payments", json=body, headers={"Idempotence-Key": key})


async def paid_payment(sandbox: RunningSandbox, kassa: httpx.AsyncClient, key: str) -> str:
    payment_id = str((await create(kassa, key, new_payment())).json()["id"])
    await sandbox.client.yookassa_succeed(payment_id, webhook="skip")
    return payment_id


def error_of(answer: httpx.Response) -> tuple[int, str, str | None]:
    body = answer.json()
    assert body["type"] == "error" and body["id"] and body["description"]
    return answer.status_code, body["code"], body.get("parameter")


async def test_yookassa_needs_the_shops_credentials(
    sandbox: RunningSandbox, kassa: httpx.AsyncClient
) -> None:
    sandbox.sandbox.add_yookassa_shop(SHOP_ID, SECRET_KEY)
    async with httpx.AsyncClient(base_url=f"{sandbox.url}/yookassa/v3/") as anonymous:
        for auth in (None, (SHOP_ID, "wrong"), ("nobody", SECRET_KEY)):
            answer = await anonymous.get("payments/anything", auth=auth)
            assert error_of(answer) == (401, "invalid_credentials", None)
    assert error_of(await kassa.get("payments/unknown")) == (404, "not_found", None)
    assert error_of(await kassa.get("nothing/here")) == (404, "not_found", None)


async def test_payments_are_idempotent_by_key(
    sandbox: RunningSandbox, kassa: httpx.AsyncClient
) -> None:
    await sandbox.client.add_yookassa_shop(SHOP_ID, SECRET_KEY)
    missing = await kassa.post("payments", json=new_payment())
    assert error_of(missing) == (400, "invalid_request", "Idempotence-Key")

    first = await create(kassa, "key-1", new_payment())
    assert first.status_code == 200, first.text
    payment = first.json()
    assert payment["status"] == "pending" and payment["paid"] is False
    assert payment["amount"] == {"value": "100.00", "currency": "RUB"}
    assert payment["recipient"] == {"account_id": SHOP_ID, "gateway_id": "sandbox"}
    assert payment["test"] is True and payment["refundable"] is False
    assert payment["metadata"] == {"tgshop_key": "order-42"}
    assert payment["created_at"].endswith("Z") and "." in payment["created_at"]
    checkout = payment["confirmation"]["confirmation_url"]
    assert payment["confirmation"]["type"] == "redirect"
    assert checkout == f"{sandbox.url}/sandbox/yookassa/checkout/{payment['id']}"

    # Same key, same request (even spelled differently): the very same answer.
    spelled = json.dumps(new_payment(), indent=2, sort_keys=True)
    again = await kassa.post(
        "payments",
        content=spelled,
        headers={"Idempotence-Key": "key-1", "Content-Type": "application/json"},
    )
    assert again.json() == payment
    assert len(await sandbox.client.yookassa_payments()) == 1

    duplicated = await create(kassa, "key-1", new_payment("200.00"))
    assert error_of(duplicated) == (400, "invalid_request", "Idempotence-Key")
    assert "Idempotence key duplicated" in duplicated.json()["description"]
    assert (await create(kassa, "key-2", new_payment())).json()["id"] != payment["id"]

    page = await kassa.get(checkout)
    assert page.status_code == 200 and "100.00 RUB" in page.text and "Order #42" in page.text


@pytest.mark.parametrize(
    ("change", "parameter"),
    [
        ({"amount": {"value": "10.001", "currency": "RUB"}}, "amount.value"),
        ({"amount": {"value": "-1", "currency": "RUB"}}, "amount.value"),
        ({"amount": {"value": "10", "currency": "XYZ"}}, "amount.currency"),
        ({"amount": None}, "amount"),
        ({"capture": False}, "capture"),
        ({"confirmation": None}, "confirmation"),
        ({"confirmation": {"type": "qr"}}, "confirmation.type"),
        ({"confirmation": {"type": "redirect"}}, "confirmation.return_url"),
        ({"description": "x" * 129}, "description"),
        ({"metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ({"metadata": {"n": 1}}, "metadata"),
    ],
)
async def test_payment_requests_are_validated(
    sandbox: RunningSandbox, kassa: httpx.AsyncClient, change: dict[str, Any], parameter: str
) -> None:
    sandbox.sandbox.add_yookassa_shop(SHOP_ID, SECRET_KEY)
    body = {k: v for k, v in (new_payment() | change).items() if v is not None}
    answer = await create(kassa, "key", body)
    assert error_of(answer) == (400, "invalid_request", parameter)
    # A refused request is not remembered: the fixed one goes through under the same key.
    assert (await create(kassa, "key", new_payment())).status_code == 200


async def test_success_is_notified_and_shown_by_the_api(
    sandbox: RunningSandbox, kassa: httpx.AsyncClient, receiver: Receiver
) -> None:
    sandbox.sandbox.add_yookassa_shop(SHOP_ID, SECRET_KEY, receiver.url)
    payment_id = (await create(kassa, "k", new_payment("1000.00"))).json()["id"]

    result = await sandbox.client.yookassa_succeed(payment_id)
    assert result["webhook"] == {"status": 200, "error": None, "attempts": 1}
    note = receiver.json()
    assert (note["type"], note["event"]) == ("notification", "payment.succeeded")
    assert note["object"]["id"] == payment_id and note["object"]["status"] == "succeeded"
    assert "crypto-pay-api-signature" not in receiver.hits[0][0]  # YooKassa signs nothing

    payment = (await kassa.get(f"payments/{payment_id}")).json()
    assert payment["status"] == "succeeded" and payment["paid"] is True
    assert payment["refundable"] is True and "confirmation" not in payment
    assert payment["refunded_amount"] == {"value": "0.00", "currency": "RUB"}
    assert payment["income_amount"] == {"value": "965.00", "currency": "RUB"}
    assert payment["payment_method"]["card"]["last4"] == "4444"
    assert payment["payment_method"]["title"] == "Bank card *4444"
    datetime.fromisoformat(payment["captured_at"])
    with pytest.raises(SandboxError, match="succeeded, not pending"):
        await sandbox.client.yookassa_succeed(payment_id)

    # Another shop's payment does not exist for this one.
    sandbox.sandbox.add_yookassa_shop("999", "other-key")
    other = await kassa.get(f"payments/{payment_id}", auth=("999", "other-key"))
    assert error_of(other) == (404, "not_found", None)


async def test_cancellations_by_the_payer_and_by_the_shop(
    sandbox: RunningSandbox, kassa: httpx.AsyncClient, receiver: Receiver
) -> None:
    sandbox.sandbox.add_yookassa_shop(SHOP_ID, SECRET_KEY, receiver.url)
    declined_id = (await create(kassa, "a", new_payment())).json()["id"]
    declined = await sandbox.client.yookassa_cancel(declined_id)
    assert declined["payment"]["status"] == "canceled"
    assert declined["payment"]["cancellation_details"] == {
        "party": "yoo_money",
        "reason": "card_expired",
    }
    assert receiver.json()["event"] == "payment.canceled"
    with pytest.raises(SandboxError, match="reason must be one of"):
        await sandbox.client.yookassa_cancel(
            (await create(kassa, "b", new_payment())).json()["id"], reason="bored"
        )

    by_shop_id = (await create(kassa, "c", new_payment())).json()["id"]
    canceled = await kassa.post(f"payments/{by_shop_id}/cancel", headers={"Idempotence-Key": "d"})
    assert canceled.json()["status"] == "canceled"
    assert canceled.json()["cancellation_details"]["reason"] == "canceled_by_merchant"
    no_key = await kassa.post(f"payments/{by_shop_id}/cancel")
    assert error_of(no_key) == (400, "invalid_request", "Idempotence-Key")

    succeeded = await paid_payment(sandbox, kassa, "e")
    refused = await kassa.post(f"payments/{succeeded}/cancel", headers={"Idempotence-Key": "f"})
    assert error_of(refused)[:2] == (400, "invalid_request")
    with pytest.raises(SandboxError, match="not pending"):
        await sandbox.client.yookassa_cancel(succeeded)


async def test_a_forged_notification_changes_nothing(
    sandbox: RunningSandbox, kassa: httpx.AsyncClient, receiver: Receiver
) -> None:
    sandbox.sandbox.add_yookassa_shop(SHOP_ID, SECRET_KEY, receiver.url)
    payment_id = (await create(kassa, "k", new_payment())).json()["id"]

    forged = await sandbox.client.yookassa_forge(payment_id, "payment.succeeded")
    assert forged["webhook"]["status"] == 200
    note = receiver.json()
    assert note["event"] == "payment.succeeded"
    assert note["object"]["status"] == "succeeded" and note["object"]["paid"] is True
    assert forged["payment"]["status"] == "pending"
    assert (await kassa.get(f"payments/{payment_id}")).json()["status"] == "pending"
    with pytest.raises(SandboxError, match="event must be"):
        await sandbox.client.yookassa_forge(payment_id, "payment.teleported")


async def test_refunds(sandbox: RunningSandbox, kassa: httpx.AsyncClient) -> None:
    sandbox.sandbox.add_yookassa_shop(SHOP_ID, SECRET_KEY)

    async def refund(key: str, payment_id: str, value: str, currency: str = "RUB") -> Any:
        body = {"payment_id": payment_id, "amount": {"value": value, "currency": currency}}
        return await kassa.post("refunds", json=body, headers={"Idempotence-Key": key})

    pending_id = (await create(kassa, "p", new_payment())).json()["id"]
    assert error_of(await refund("r0", pending_id, "10.00")) == (
        400,
        "invalid_request",
        "payment_id",
    )
    assert error_of(await refund("r0", "no-such-payment", "10.00"))[2] == "payment_id"

    payment_id = await paid_payment(sandbox, kassa, "q")
    partial = await refund("r1", payment_id, "40.00")
    assert partial.status_code == 200, partial.text
    first = partial.json()
    assert first["status"] == "succeeded" and first["payment_id"] == payment_id
    assert first["amount"] == {"value": "40.00", "currency": "RUB"}
    datetime.fromisoformat(first["created_at"])
    assert (await refund("r1", payment_id, "40.00")).json() == first  # a retry, not a refund

    payment = (await kassa.get(f"payments/{payment_id}")).json()
    assert payment["refunded_amount"] == {"value": "40.00", "currency": "RUB"}
    assert payment["refundable"] is True

    assert error_of(await refund("r2", payment_id, "60.01"))[2] == "amount.value"
    assert error_of(await refund("r3", payment_id, "10.00", "USD"))[2] == "amount.currency"
    rest = await refund("r4", payment_id, "60")
    assert rest.json()["amount"]["value"] == "60.00"
    payment = (await kassa.get(f"payments/{payment_id}")).json()
    assert payment["refunded_amount"]["value"] == "100.00" and payment["refundable"] is False
    assert error_of(await refund("r5", payment_id, "0.01"))[2] == "amount.value"

    assert (await kassa.get(f"refunds/{first['id']}")).json() == first
    assert error_of(await kassa.get("refunds/nope")) == (404, "not_found", None)
