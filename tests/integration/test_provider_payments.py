"""Paying at CryptoBot and YooKassa, end to end over real HTTP: our HTTP app serves the
webhooks, the sandbox plays both providers (their APIs, their notifications, CryptoBot's
signature). Success, decline, expiry, forged and unsigned notifications, the polling
fallback, a provider that is down, and staff re-checking a payment. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.support.factories import make_product, make_user
from tests.support.fakes import FrozenClock
from tests.support.sandbox import RunningSandbox
from tgshop.api.app import create_http_app
from tgshop.app import Container, build_container
from tgshop.config import Settings
from tgshop.db.engine import Database
from tgshop.db.models import AuditLog, LedgerEntry, Order, OutboxJob, Payment, Refund
from tgshop.domain.errors import InvalidRequest
from tgshop.domain.ledger import REVENUE
from tgshop.domain.orders import Actor, OrderStatus
from tgshop.domain.payments import Gateway
from tgshop.sandbox.runner import serving
from tgshop.services.order_placement import OrderLine, PlaceOrderRequest
from tgshop.services.payments import Outcome
from tgshop.services.ports import ProviderError
from tgshop.services.provider_payments import NOTIFY_PAYMENT_FAILED
from tgshop.services.refunds import RefundService

pytestmark = pytest.mark.timeout(60)

CRYPTO_TOKEN = "12345:AAcryptoPayTestToken"
SHOP_ID, SHOP_KEY = "501234", "test_SandboxSecretKey"


@dataclass
class Shop:
    container: Container
    url: str  # our HTTP app
    sandbox: RunningSandbox
    clock: FrozenClock

    async def order(self, *, price: int = 1250) -> tuple[int, int]:
        """A customer and their unpaid order of ``price`` USD cents."""
        user = await make_user(self.container.db)
        product = await make_product(
            self.container.db, "Teapot", kind="digital", variants=[("1 l", price, 5)]
        )
        order = await self.container.orders.place_order(
            PlaceOrderRequest(user_id=user.id, lines=[OrderLine(product.variants[0].id, 1)])
        )
        return user.id, order.id

    async def checkout(self, user_id: int, order_id: int, gateway: Gateway) -> Any:
        return await self.container.payments.provider_checkout(
            order_id, user_id, gateway, lambda number: f"Order {number}"
        )


def _settings(
    make_settings: Callable[..., Settings], sandbox: RunningSandbox, db_url: str, **payments: Any
) -> Settings:
    return make_settings(
        database={"url": db_url},
        payments={
            "cryptobot_token": CRYPTO_TOKEN,
            "cryptobot_url": f"{sandbox.url}/cryptobot/api",
            "yookassa_shop_id": SHOP_ID,
            "yookassa_secret_key": SHOP_KEY,
            "yookassa_url": f"{sandbox.url}/yookassa/v3",
            "yookassa_return_url": "https://t.me/tgshop_test_bot",
            **payments,
        },
    )


@asynccontextmanager
async def _shop(sandbox: RunningSandbox, settings: Settings, db: Database) -> AsyncIterator[Shop]:
    clock = FrozenClock()
    container = build_container(settings, db=db, clock=clock)
    try:
        async with serving(create_http_app(container)) as url:
            sandbox.sandbox.add_crypto_app(CRYPTO_TOKEN, f"{url}/payments/cryptobot/webhook")
            sandbox.sandbox.add_yookassa_shop(SHOP_ID, SHOP_KEY, f"{url}/payments/yookassa/webhook")
            yield Shop(container, url, sandbox, clock)
    finally:
        for provider in container.providers.values():
            await provider.close()


@pytest.fixture
async def shop(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> AsyncIterator[Shop]:
    async with _shop(sandbox, _settings(make_settings, sandbox, db_url), db) as running:
        yield running


async def _order_state(db: Database, order_id: int) -> tuple[str, str]:
    async with db.read() as session:
        row = (
            await session.execute(
                select(Order.status, Order.payment_status).where(Order.id == order_id)
            )
        ).one()
    return row[0], row[1]


async def _payments(db: Database, order_id: int) -> list[tuple[str, str, str | None]]:
    async with db.read() as session:
        rows = await session.execute(
            select(Payment.gateway, Payment.status, Payment.outcome)
            .where(Payment.order_id == order_id)
            .order_by(Payment.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def _jobs(db: Database, kind: str) -> list[dict[str, Any]]:
    async with db.read() as session:
        rows = await session.execute(select(OutboxJob.payload).where(OutboxJob.kind == kind))
        return list(rows.scalars())


async def test_cryptobot_invoice_paid_through_a_signed_webhook(shop: Shop) -> None:
    user_id, order_id = await shop.order()
    redirect = await shop.checkout(user_id, order_id, Gateway.CRYPTOBOT)
    assert redirect.url.startswith("https://t.me/CryptoTestnetBot?start=")
    assert str(redirect.amount) == "12.50 USD"
    again = await shop.checkout(user_id, order_id, Gateway.CRYPTOBOT)  # a double tap
    assert (again.payment_id, again.url) == (redirect.payment_id, redirect.url)
    invoices = await shop.sandbox.client.crypto_invoices()
    assert len(invoices) == 1
    invoice = invoices[0]
    assert (invoice["fiat"], invoice["amount"], invoice["status"]) == ("USD", "12.5", "active")
    assert invoice["accepted_assets"] == ["USDT", "TON", "BTC"]

    paid = await shop.sandbox.client.crypto_pay(invoice["invoice_id"], asset="TON")
    assert paid["webhook"]["status"] == 200
    assert await _order_state(shop.container.db, order_id) == ("confirmed", "paid")
    assert await _payments(shop.container.db, order_id) == [("cryptobot", "succeeded", None)]
    async with shop.container.db.read() as session:
        revenue = await session.scalar(
            select(func.sum(LedgerEntry.amount)).where(LedgerEntry.account == REVENUE)
        )
    assert revenue == 1250

    # The same news read back from the API (the polling path) changes nothing.
    check = await shop.container.provider_payments.check(redirect.payment_id)
    assert check.provider is not None and check.provider.state.value == "succeeded"
    assert (check.ours_before, check.ours_now) == ("succeeded", "succeeded")
    assert check.result == f"received.{Outcome.DUPLICATE.value}"


@pytest.mark.parametrize("webhook", ["bad_signature", "no_signature"])
async def test_an_unsigned_or_forged_cryptobot_webhook_is_refused_and_polling_takes_it_in(
    shop: Shop, webhook: str
) -> None:
    user_id, order_id = await shop.order()
    await shop.checkout(user_id, order_id, Gateway.CRYPTOBOT)
    invoice = (await shop.sandbox.client.crypto_invoices())[0]
    paid = await shop.sandbox.client.crypto_pay(invoice["invoice_id"], webhook=webhook)
    assert paid["webhook"]["status"] == 401
    assert await _order_state(shop.container.db, order_id) == ("awaiting_payment", "unpaid")

    recheck = shop.container.provider_payments.recheck_pending
    assert (await recheck()).checked == 0  # not pending long enough yet
    shop.clock.advance(minutes=11)
    result = await recheck()
    assert (result.checked, result.taken_in, result.errors) == (1, 1, 0)
    assert await _order_state(shop.container.db, order_id) == ("confirmed", "paid")


async def test_an_expired_cryptobot_invoice_stops_waiting_and_the_customer_is_told(
    shop: Shop,
) -> None:
    user_id, order_id = await shop.order()
    first = await shop.checkout(user_id, order_id, Gateway.CRYPTOBOT)
    invoice = (await shop.sandbox.client.crypto_invoices())[0]
    await shop.sandbox.client.crypto_expire(invoice["invoice_id"])
    shop.clock.advance(minutes=11)
    result = await shop.container.provider_payments.recheck_pending()
    assert (result.checked, result.stopped) == (1, 1)
    assert await _payments(shop.container.db, order_id) == [("cryptobot", "failed", "expired")]
    assert await _jobs(shop.container.db, NOTIFY_PAYMENT_FAILED) == [
        {"payment_id": first.payment_id, "reason": "expired"}
    ]
    assert (await shop.container.provider_payments.recheck_pending()).checked == 0
    # The order still waits: paying again opens a new invoice.
    second = await shop.checkout(user_id, order_id, Gateway.CRYPTOBOT)
    assert second.payment_id != first.payment_id and second.url != first.url


async def test_yookassa_payment_confirmed_only_after_re_reading_it(shop: Shop) -> None:
    user_id, order_id = await shop.order(price=99900)
    redirect = await shop.checkout(user_id, order_id, Gateway.YOOKASSA)
    assert redirect.url.startswith(f"{shop.sandbox.url}/sandbox/yookassa/checkout/")
    again = await shop.checkout(user_id, order_id, Gateway.YOOKASSA)
    assert again.url == redirect.url
    payment = (await shop.sandbox.client.yookassa_payments())[0]
    assert payment["amount"] == {"value": "999.00", "currency": "USD"}
    assert payment["confirmation"]["return_url"] == "https://t.me/tgshop_test_bot"

    # A notification claiming success for a payment the API still calls pending: nothing.
    forged = await shop.sandbox.client.yookassa_forge(payment["id"], "payment.succeeded")
    assert forged["webhook"]["status"] == 200
    assert await _order_state(shop.container.db, order_id) == ("awaiting_payment", "unpaid")
    # The re-check finds it still pending, and leaves it an interval before asking again.
    shop.clock.advance(minutes=11)
    recheck = shop.container.provider_payments.recheck_pending
    assert ((await recheck()).checked, (await recheck()).checked) == (1, 0)
    shop.clock.advance(minutes=11)
    assert (await recheck()).checked == 1

    paid = await shop.sandbox.client.yookassa_succeed(payment["id"])
    assert paid["webhook"]["status"] == 200
    assert await _order_state(shop.container.db, order_id) == ("confirmed", "paid")
    assert await _payments(shop.container.db, order_id) == [("yookassa", "succeeded", None)]


async def test_a_declined_yookassa_payment_is_recorded_with_its_reason(shop: Shop) -> None:
    user_id, order_id = await shop.order()
    redirect = await shop.checkout(user_id, order_id, Gateway.YOOKASSA)
    payment = (await shop.sandbox.client.yookassa_payments())[0]
    declined = await shop.sandbox.client.yookassa_cancel(payment["id"], reason="card_expired")
    assert declined["webhook"]["status"] == 200
    assert await _payments(shop.container.db, order_id) == [("yookassa", "failed", "card_expired")]
    assert await _jobs(shop.container.db, NOTIFY_PAYMENT_FAILED) == [
        {"payment_id": redirect.payment_id, "reason": "card_expired"}
    ]
    assert await _order_state(shop.container.db, order_id) == ("awaiting_payment", "unpaid")


async def test_money_after_the_order_expired_goes_to_the_wallet(shop: Shop) -> None:
    user_id, order_id = await shop.order()
    await shop.checkout(user_id, order_id, Gateway.YOOKASSA)
    shop.clock.advance(minutes=31)
    assert await shop.container.orders.expire_unpaid() == 1
    payment = (await shop.sandbox.client.yookassa_payments())[0]
    await shop.sandbox.client.yookassa_succeed(payment["id"])
    assert await _order_state(shop.container.db, order_id) == ("expired", "unpaid")
    assert await _payments(shop.container.db, order_id) == [
        ("yookassa", "succeeded", "the order is expired; credited")
    ]
    assert (await shop.container.payments.balance(user_id)).amount == 1250


async def test_webhooks_that_are_not_for_us_or_not_notifications(shop: Shop) -> None:
    async with httpx.AsyncClient(base_url=shop.url) as http:
        unknown = await http.post("/payments/paypal/webhook", content=b"{}")
        assert unknown.status_code == 404
        assert "not set up" in unknown.json()["detail"]
        garbage = await http.post("/payments/yookassa/webhook", content=b"not json")
        assert garbage.status_code == 400
        assert garbage.json()["detail"] == "the body is not JSON"
        unsigned = await http.post("/payments/cryptobot/webhook", content=b"{}")
        assert unsigned.status_code == 401
        refund_event = await http.post(
            "/payments/yookassa/webhook",
            json={"type": "notification", "event": "refund.succeeded", "object": {"id": "r1"}},
        )
        assert refund_event.json() == {"ok": True, "state": "ignored"}
        back = await http.get("/payments/return", headers={"Accept-Language": "ru-RU"})
        assert "Можно вернуться в Telegram" in back.text


async def test_yookassa_notifications_from_an_address_not_allowed_are_refused(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    settings = _settings(make_settings, sandbox, db_url, yookassa_allowed_ips="185.71.76.0/27")
    async with _shop(sandbox, settings, db) as shop:
        user_id, order_id = await shop.order()
        await shop.checkout(user_id, order_id, Gateway.YOOKASSA)
        payment = (await shop.sandbox.client.yookassa_payments())[0]
        paid = await shop.sandbox.client.yookassa_succeed(payment["id"])
        assert paid["webhook"]["status"] == 403  # the sandbox sends from 127.0.0.1
        assert await _order_state(db, order_id) == ("awaiting_payment", "unpaid")
        shop.clock.advance(minutes=11)  # the worker's re-check still finds the money
        assert (await shop.container.provider_payments.recheck_pending()).taken_in == 1
        assert await _order_state(db, order_id) == ("confirmed", "paid")


async def test_a_provider_that_is_down_leaves_a_payment_that_is_later_called_off(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    # A port nobody listens on: the connection is refused at once.
    settings = _settings(make_settings, sandbox, db_url, yookassa_url="http://127.0.0.1:9/v3")
    async with _shop(sandbox, settings, db) as shop:
        user_id, order_id = await shop.order()
        with pytest.raises(ProviderError) as failed:
            await shop.checkout(user_id, order_id, Gateway.YOOKASSA)
        assert failed.value.retryable
        assert await _payments(db, order_id) == [("yookassa", "pending", None)]
        shop.clock.advance(minutes=11)
        result = await shop.container.provider_payments.recheck_pending()
        assert (result.checked, result.stopped) == (1, 1)
        assert await _payments(db, order_id) == [("yookassa", "cancelled", "not_started")]


async def test_late_yookassa_money_is_refunded_through_its_api(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    settings = _settings(make_settings, sandbox, db_url, late_money="refund")
    async with _shop(sandbox, settings, db) as shop:
        user_id, order_id = await shop.order()
        await shop.checkout(user_id, order_id, Gateway.YOOKASSA)
        await shop.container.orders.change_status(
            order_id, OrderStatus.CANCELLED, actor=Actor.CUSTOMER, actor_user_id=user_id
        )
        payment = (await shop.sandbox.client.yookassa_payments())[0]
        await shop.sandbox.client.yookassa_succeed(payment["id"])
        async with db.read() as session:
            refund_id = (await session.execute(select(Refund.id))).scalar_one()
        refunds = RefundService(db, shop.clock, None, shop.container.providers)
        sent = await refunds.send(refund_id)
        assert (str(sent.amount), sent.to_balance, sent.already) == ("12.50 USD", False, False)
        again = await refunds.send(refund_id)  # the job ran twice: nothing more is sent
        assert again.already
        refunded = (await shop.sandbox.client.yookassa_payments())[0]
        assert refunded["refunded_amount"] == {"value": "12.50", "currency": "USD"}
        async with db.read() as session:
            row = (await session.execute(select(Refund.status, Refund.provider_refund_id))).one()
        assert row.status == "succeeded" and row.provider_refund_id
        assert (await shop.container.payments.balance(user_id)).amount == 0


LIVE_CRYPTO_TOKEN = "67890:AAcryptoPayLiveToken"
LIVE_SHOP_ID, LIVE_SHOP_KEY = "601234", "live_SandboxSecretKey"


async def test_staff_switch_a_gateway_to_live_and_each_payment_keeps_its_mode(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    settings = _settings(
        make_settings,
        sandbox,
        db_url,
        # Both sets: the plain credentials are live, the *_TEST_* ones test.
        cryptobot_token=LIVE_CRYPTO_TOKEN,
        cryptobot_test_token=CRYPTO_TOKEN,
        yookassa_shop_id=LIVE_SHOP_ID,
        yookassa_secret_key=LIVE_SHOP_KEY,
        yookassa_test_shop_id=SHOP_ID,
        yookassa_test_secret_key=SHOP_KEY,
    )
    async with _shop(sandbox, settings, db) as shop:
        sandbox.sandbox.add_crypto_app(LIVE_CRYPTO_TOKEN, f"{shop.url}/payments/cryptobot/webhook")
        sandbox.sandbox.add_yookassa_shop(
            LIVE_SHOP_ID, LIVE_SHOP_KEY, f"{shop.url}/payments/yookassa/webhook"
        )
        modes = shop.container.gateway_modes
        staff = await make_user(db, first_name="Maria")
        assert [(m.gateway.value, m.mode, m.switchable) for m in await modes.all()] == [
            ("yookassa", "test", True),
            ("cryptobot", "test", True),
        ]
        with pytest.raises(InvalidRequest, match="one mode only"):
            await modes.switch(Gateway.TELEGRAM, "live", by_user_id=staff.id)

        # In test mode: the test app bills, its signed notification is believed.
        user_id, first = await shop.order()
        test_redirect = await shop.checkout(user_id, first, Gateway.CRYPTOBOT)
        await modes.switch(Gateway.CRYPTOBOT, "live", by_user_id=staff.id)
        await modes.switch(Gateway.CRYPTOBOT, "live", by_user_id=staff.id)  # a double tap
        await modes.switch(Gateway.YOOKASSA, "live", by_user_id=staff.id)

        # In live mode: a new payment, at the live app.
        other, second = await shop.order()
        live_redirect = await shop.checkout(other, second, Gateway.CRYPTOBOT)
        invoices = {i["invoice_id"]: i for i in await shop.sandbox.client.crypto_invoices()}
        assert len(invoices) == 2
        for invoice in invoices.values():
            paid = await shop.sandbox.client.crypto_pay(invoice["invoice_id"])
            assert paid["webhook"]["status"] == 200  # each signed with its own app's token
        assert await _order_state(db, first) == ("confirmed", "paid")
        assert await _order_state(db, second) == ("confirmed", "paid")

        # The test payment is still read back with the test credentials.
        check = await shop.container.provider_payments.check(test_redirect.payment_id)
        assert check.provider is not None and check.provider.state.value == "succeeded"

        # YooKassa in live mode: the live shop's payment, re-read with the live keys.
        third_user, third = await shop.order()
        page = await shop.checkout(third_user, third, Gateway.YOOKASSA)
        succeeded = await shop.sandbox.client.yookassa_succeed(page.url.rsplit("/", 1)[-1])
        assert succeeded["webhook"]["status"] == 200
        assert await _order_state(db, third) == ("confirmed", "paid")

    async with db.read() as session:
        recorded = (
            await session.execute(select(Payment.gateway, Payment.mode).order_by(Payment.id))
        ).all()
        audit = (
            await session.execute(select(AuditLog.action, AuditLog.data).order_by(AuditLog.id))
        ).all()
    assert [tuple(r) for r in recorded] == [
        ("cryptobot", "test"),
        ("cryptobot", "live"),
        ("yookassa", "live"),
    ]
    assert live_redirect.payment_id != test_redirect.payment_id
    assert [(a.action, a.data["gateway"], a.data["to"]) for a in audit] == [
        ("payments.mode", "cryptobot", "live"),
        ("payments.mode", "yookassa", "live"),
    ]
