"""Paying in the chat, driven through the sandbox over HTTP: a Telegram Stars invoice after
checkout, Telegram's pre-checkout question answered from our database, the payment taken in
once; paying from the balance; a stale invoice refused with the reason; a payment arriving
while the shop is in maintenance still recorded."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable

import pytest
from sqlalchemy import select, update

from tests.integration.test_bot_checkout import _customer_with_cart
from tests.integration.test_bot_webhook import bot_settings, shop
from tests.support.factories import give_balance, make_product
from tests.support.fakes import FrozenClock
from tests.support.sandbox import RunningSandbox
from tests.support.workers import run_jobs, worker_side
from tgshop.config import Settings
from tgshop.db.engine import Database
from tgshop.db.models import Order, OutboxJob, Payment, Setting, User, Variant
from tgshop.jobs.telegram_client import AiogramTelegramClient
from tgshop.sandbox.client import buttons
from tgshop.services import ledger
from tgshop.services.maintenance import MaintenanceService
from tgshop.services.payments import PaymentService
from tgshop.services.reconciliation import StarsReconciler

pytestmark = pytest.mark.timeout(90)


async def _guide(db: Database, *, stars: int | None = 30, price: int = 900, stock: int = 4):
    guide = await make_product(db, "Guide <b>", kind="digital", variants=[("PDF", price, stock)])
    if stars is not None:
        async with db.transaction() as session:
            await session.execute(
                update(Variant).where(Variant.id == guide.variants[0].id).values(stars_price=stars)
            )
    return guide


def _providers_at(sandbox: RunningSandbox) -> dict[str, object]:
    """CryptoBot and YooKassa played by the sandbox; no Stars."""
    return {
        "stars_enabled": False,
        "cryptobot_token": "777:CryptoSandbox",
        "cryptobot_url": f"{sandbox.url}/cryptobot/api",
        "yookassa_shop_id": "4242",
        "yookassa_secret_key": "test_key",
        "yookassa_url": f"{sandbox.url}/yookassa/v3",
        "yookassa_return_url": "https://t.me/tgshop_test_bot",
    }


async def test_paying_an_order_in_telegram_stars(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    guide = await _guide(db)
    settings = bot_settings(make_settings, sandbox, db_url)
    async with shop(sandbox, settings, db):
        ann = await _customer_with_cart(sandbox, db, "Ann", (guide.variants[0].id, 2))
        await ann.tap("Cart")
        await ann.tap("✅ Checkout")
        placed = await ann.tap("✅ Place order")
        assert "How would you like to pay 18.00 USD?" in placed.text
        assert buttons(placed.last) == ["⭐ Pay with Telegram Stars"]  # balance is empty

        invoice = await ann.tap("⭐ Pay with Telegram Stars")
        sent = invoice.last
        assert sent is not None and sent["invoice"]["currency"] == "XTR"
        assert sent["invoice"]["total_amount"] == 60  # 2 × 30 Stars
        paid = await ann.pay()
        assert paid.result is not None and paid.result["status"] == "paid"
        assert "Payment of 60 XTR received for order A" in paid.text

    async with db.read() as session:
        order = (await session.execute(select(Order.status, Order.payment_status))).one()
        payment = (
            await session.execute(
                select(Payment.status, Payment.amount, Payment.provider_charge_id)
            )
        ).one()
        kinds = list((await session.execute(select(OutboxJob.kind))).scalars())
    assert tuple(order) == ("confirmed", "paid")
    assert payment.status == "succeeded" and payment.amount == 60
    assert payment.provider_charge_id == paid.result["charge_id"]
    assert "notify_manager_order_status" in kinds and "notify_customer_order_status" in kinds

    # Reconciliation reads the same payment back from getStarTransactions and finds it known.
    client = AiogramTelegramClient(settings.telegram)
    try:
        page = await client.star_transactions(0, 100)
        assert [(t.id, t.amount, t.user_id) for t in page.incoming] == [
            (paid.result["charge_id"], 60, ann.id)
        ]
        clock = FrozenClock()
        payments = PaymentService(db, clock, settings.shop, settings.payments)
        result = await StarsReconciler(db, clock, payments, client).run()
    finally:
        await client.close()
    assert (result.read, result.already_known, result.taken_in) == (1, 1, 0)


async def test_a_stale_invoice_is_refused_before_any_money_moves(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    guide = await _guide(db)
    clock = FrozenClock()
    async with shop(sandbox, bot_settings(make_settings, sandbox, db_url), db, clock=clock):
        ben = await _customer_with_cart(sandbox, db, "Ben", (guide.variants[0].id, 1))
        assert "No movements yet" in (await ben.send("/balance")).text
        await ben.tap("Cart")
        await ben.tap("✅ Checkout")
        await ben.tap("✅ Place order")
        await ben.tap("⭐ Pay with Telegram Stars")
        clock.advance(minutes=31)  # the order's 30 minutes are over
        refused = await ben.pay(wait=1)  # a refusal sends no message: do not wait for one
        assert refused.result is not None and refused.result["status"] == "declined"
        assert "has expired or was cancelled" in refused.result["reason"]
    async with db.read() as session:
        assert (await session.execute(select(Payment.status))).scalar_one() == "pending"


async def test_paying_from_the_balance_and_paying_during_maintenance(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    guide = await _guide(db)
    clock = FrozenClock()
    async with shop(sandbox, bot_settings(make_settings, sandbox, db_url), db, clock=clock):
        cat = await _customer_with_cart(sandbox, db, "Cat", (guide.variants[0].id, 1))
        await give_balance(db, cat.id, 1000, telegram_id=True)
        await cat.tap("Cart")
        await cat.tap("✅ Checkout")
        placed = await cat.tap("✅ Place order")
        assert buttons(placed.last) == [
            "⭐ Pay with Telegram Stars",
            "👛 Pay from balance (10.00 USD)",
        ]
        paid = await cat.tap("👛 Pay from balance (10.00 USD)", wait=1)
        assert paid.answer is not None and "Paid from your balance" in paid.answer["text"]
        balance = (await cat.send("/balance")).text
        assert "Your balance: 1.00 USD" in balance
        assert "paid for an order · −9.00 USD" in balance
        assert "adjustment by the shop · +10.00 USD" in balance
        assert balance.index("paid for an order") < balance.index("adjustment")  # newest first

        # A second order, paid in Stars while the shop went into maintenance: the money
        # still counts (the maintenance notice must not swallow it).
        dog = await _customer_with_cart(sandbox, db, "Dog", (guide.variants[0].id, 1))
        await dog.tap("Cart")
        await dog.tap("✅ Checkout")
        await dog.tap("✅ Place order")
        await dog.tap("⭐ Pay with Telegram Stars")
        await MaintenanceService(db, clock).set(True, by_user_id=None)
        await asyncio.sleep(2.1)  # the shop re-reads the switch every 2 seconds
        assert "closed for maintenance" in (await dog.send("/start")).text
        paid = await dog.pay()
        assert paid.result is not None and paid.result["status"] == "paid"
    async with db.read() as session:
        statuses = sorted((await session.execute(select(Order.payment_status, Order.status))).all())
        user_id = (
            await session.execute(select(User.id).where(User.telegram_id == cat.id))
        ).scalar_one()
        balance = await ledger.wallet_balance(session, user_id, "USD")
    assert statuses == [("paid", "confirmed"), ("paid", "confirmed")]
    assert balance == 100


async def test_paying_by_card_through_telegram_payments(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    guide = await _guide(db, stars=None)
    settings = bot_settings(
        make_settings,
        sandbox,
        db_url,
        payments={"card_provider_token": "284685063:TEST:sandbox", "wallet_enabled": False},
    )
    async with shop(sandbox, settings, db):
        dan = await _customer_with_cart(sandbox, db, "Dan", (guide.variants[0].id, 1))
        await dan.tap("Cart")
        await dan.tap("✅ Checkout")
        placed = await dan.tap("✅ Place order")
        assert buttons(placed.last) == ["⭐ Pay with Telegram Stars", "💳 Pay by card"]
        no_stars = await dan.tap("⭐ Pay with Telegram Stars", wait=1)
        assert no_stars.answer is not None and "cannot be paid in Stars" in no_stars.answer["text"]
        invoice = await dan.tap("💳 Pay by card")
        sent = invoice.last
        assert sent is not None
        assert (sent["invoice"]["currency"], sent["invoice"]["total_amount"]) == ("USD", 900)
        paid = await dan.pay()
        assert paid.result is not None and paid.result["status"] == "paid"
        assert "Payment of 9.00 USD received for order A" in paid.text
    async with db.read() as session:
        payment = (
            await session.execute(select(Payment.gateway, Payment.status, Payment.amount))
        ).one()
        order = (await session.execute(select(Order.status, Order.payment_status))).one()
    assert tuple(payment) == ("telegram", "succeeded", 900)
    assert tuple(order) == ("confirmed", "paid")


async def test_paying_at_yookassa_and_cryptobot_from_the_chat(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    guide = await _guide(db, stars=None)
    settings = bot_settings(
        make_settings,
        sandbox,
        db_url,
        payments=_providers_at(sandbox),
    )
    maria = await sandbox.client.user("Maria", username="maria", language_code="ru")
    settings = dataclasses.replace(
        settings, telegram=settings.telegram.model_copy(update={"staff_ids": [maria.id]})
    )
    async with shop(sandbox, settings, db) as url:
        sandbox.sandbox.add_crypto_app("777:CryptoSandbox", f"{url}/payments/cryptobot/webhook")
        sandbox.sandbox.add_yookassa_shop("4242", "test_key", f"{url}/payments/yookassa/webhook")
        eve = await _customer_with_cart(sandbox, db, "Eve", (guide.variants[0].id, 1))
        await eve.tap("Cart")
        await eve.tap("✅ Checkout")
        placed = await eve.tap("✅ Place order")
        assert buttons(placed.last) == [
            "💳 Pay by card or wallet (YooKassa)",
            "🪙 Pay in crypto (CryptoBot)",
        ]
        crypto = await eve.tap("🪙 Pay in crypto (CryptoBot)")
        assert "Pay 9.00 USD for order A00001 in CryptoBot" in crypto.text
        link = crypto.last["reply_markup"]["inline_keyboard"][0][0]
        assert link["text"] == "Pay 9.00 USD"
        assert link["url"].startswith("https://t.me/CryptoTestnetBot?start=")

        # She changes her mind and pays at YooKassa instead.
        yookassa = await eve.tap("💳 Pay by card or wallet (YooKassa)")
        page = yookassa.last["reply_markup"]["inline_keyboard"][0][0]["url"]
        assert page.startswith(f"{sandbox.url}/sandbox/yookassa/checkout/")
        paid = await sandbox.client.yookassa_succeed(page.rsplit("/", 1)[-1])
        assert paid["webhook"]["status"] == 200
        # The CryptoBot invoice, paid too late, is money received all the same: it goes to
        # her balance (the order was paid already).
        invoice = (await sandbox.client.crypto_invoices())[0]
        late = await sandbox.client.crypto_pay(invoice["invoice_id"])
        assert late["webhook"]["status"] == 200

        # Staff re-check a payment with its provider on demand; customers cannot.
        async with db.read() as session:
            crypto_id = (
                await session.execute(select(Payment.id).where(Payment.gateway == "cryptobot"))
            ).scalar_one()
        checked = await maria.send(f"/payment {crypto_id}")
        assert f"Платёж #{crypto_id} · cryptobot" in checked.text
        assert "У нас: succeeded → succeeded" in checked.text
        assert "Сервис сообщает: succeeded" in checked.text
        assert "Уже учтён раньше" in checked.text
        assert "Формат: /payment" in (await maria.send("/payment soon")).text
        assert "#" not in (await eve.send(f"/payment {crypto_id}")).text
        # Money moved by hand: a goodwill credit on top of the late CryptoBot money.
        adjusted = await maria.send(f"/adjust {eve.id} +3 goodwill for the double payment")
        assert f"Баланс покупателя {eve.id}: +3.00 USD, теперь 12.00 USD" in adjusted.text
        assert "12.00 USD" in (await eve.send("/balance")).text
        twice = await maria.send("/markpaid a00001 cash")
        assert "Заказ A00001 уже оплачен: ничего не изменено." in twice.text
    async with db.read() as session:
        payments = (
            await session.execute(
                select(Payment.gateway, Payment.status, Payment.outcome).order_by(Payment.id)
            )
        ).all()
        order = (await session.execute(select(Order.status, Order.payment_status))).one()
    assert [tuple(p) for p in payments] == [
        ("cryptobot", "succeeded", "the order was already paid; credited"),
        ("yookassa", "succeeded", None),
    ]
    assert tuple(order) == ("confirmed", "paid")


async def test_topping_up_the_balance_in_stars_and_by_card(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    settings = bot_settings(
        make_settings,
        sandbox,
        db_url,
        payments={"stars_rate": "50", "card_provider_token": "284685063:TEST:sandbox"},
    )
    async with shop(sandbox, settings, db):
        fay = await sandbox.client.user("Fay")
        await fay.send("/start")
        balance = await fay.send("/balance")
        assert buttons(balance.last) == [
            "➕ Top up 5.00 USD",
            "➕ Top up 10.00 USD",
            "➕ Top up 25.00 USD",
        ]
        choice = await fay.tap("➕ Top up 10.00 USD")
        assert "top up your balance by 10.00 USD" in choice.text
        assert buttons(choice.last) == ["⭐ Pay with Telegram Stars", "💳 Pay by card"]
        again = await fay.tap("⭐ Pay with Telegram Stars")
        invoice = again.last
        assert invoice is not None
        assert (invoice["invoice"]["currency"], invoice["invoice"]["total_amount"]) == ("XTR", 500)
        paid = await fay.pay()
        assert "Your balance is topped up: now 10.00 USD" in paid.text

        await fay.send("/balance")
        await fay.tap("➕ Top up 5.00 USD")
        card = (await fay.tap("💳 Pay by card")).last
        assert card is not None
        assert (card["invoice"]["currency"], card["invoice"]["total_amount"]) == ("USD", 500)
        paid = await fay.pay()
        assert "now 15.00 USD" in paid.text
        history = (await fay.send("/balance")).text
        assert "Your balance: 15.00 USD" in history and history.count("top-up · +") == 2
    async with db.read() as session:
        rows = (
            await session.execute(
                select(
                    Payment.purpose, Payment.gateway, Payment.amount, Payment.value_amount
                ).order_by(Payment.id)
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("topup", "stars", 500, 1000),
        ("topup", "telegram", 500, 500),
    ]


async def test_topping_up_at_yookassa_and_cryptobot(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    settings = bot_settings(
        make_settings,
        sandbox,
        db_url,
        payments=_providers_at(sandbox),
    )
    clock = FrozenClock()
    async with (
        worker_side(settings, db, clock) as worker,
        shop(sandbox, settings, db, clock=clock) as url,
    ):
        sandbox.sandbox.add_crypto_app("777:CryptoSandbox", f"{url}/payments/cryptobot/webhook")
        sandbox.sandbox.add_yookassa_shop("4242", "test_key", f"{url}/payments/yookassa/webhook")
        gil = await sandbox.client.user("Gil")
        await gil.send("/start")
        await gil.send("/balance")
        choice = await gil.tap("➕ Top up 25.00 USD")
        assert buttons(choice.last) == [
            "💳 Pay by card or wallet (YooKassa)",
            "🪙 Pay in crypto (CryptoBot)",
        ]
        page = await gil.tap("💳 Pay by card or wallet (YooKassa)")
        assert "Top up your balance by 25.00 USD on the YooKassa page" in page.text
        url_ = page.last["reply_markup"]["inline_keyboard"][0][0]["url"]
        # A double tap gives the same page, so one top-up can be paid only once.
        again = await gil.tap("💳 Pay by card or wallet (YooKassa)")
        assert again.last["reply_markup"]["inline_keyboard"][0][0]["url"] == url_
        paid = await sandbox.client.yookassa_succeed(url_.rsplit("/", 1)[-1])
        assert paid["webhook"]["status"] == 200
        await run_jobs(worker)
        told = [m.get("text") or "" for m in await gil.history()]
        assert "👛 25.00 USD has arrived: your balance is now 25.00 USD." in told

        await gil.send("/balance")
        await gil.tap("➕ Top up 5.00 USD")
        crypto = await gil.tap("🪙 Pay in crypto (CryptoBot)")
        assert "Top up your balance by 5.00 USD in CryptoBot" in crypto.text
        invoice = (await sandbox.client.crypto_invoices())[0]
        assert (invoice["amount"], invoice["fiat"]) == ("5", "USD")
        late = await sandbox.client.crypto_pay(invoice["invoice_id"])
        assert late["webhook"]["status"] == 200

        await run_jobs(worker)
        texts = [m.get("text") or "" for m in await gil.history()]
        assert "👛 5.00 USD has arrived: your balance is now 30.00 USD." in texts
        assert "Your balance: 30.00 USD" in (await gil.send("/balance")).text
    async with db.read() as session:
        rows = (
            await session.execute(
                select(Payment.purpose, Payment.gateway, Payment.status, Payment.amount).order_by(
                    Payment.id
                )
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("topup", "yookassa", "succeeded", 2500),
        ("topup", "cryptobot", "succeeded", 500),
    ]


async def test_paying_part_from_the_balance_and_the_rest_in_stars(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    guide = await _guide(db)  # 9.00 USD or 30 Stars
    async with shop(sandbox, bot_settings(make_settings, sandbox, db_url), db):
        dan = await _customer_with_cart(sandbox, db, "Dan", (guide.variants[0].id, 1))
        await give_balance(db, dan.id, 500, telegram_id=True)
        await dan.tap("Cart")
        await dan.tap("✅ Checkout")
        placed = await dan.tap("✅ Place order")
        assert buttons(placed.last) == [
            "⭐ Pay with Telegram Stars",
            "👛 Use my balance (5.00 USD) and pay the rest",
        ]
        rest = await dan.tap("👛 Use my balance (5.00 USD) and pay the rest")
        assert "Your balance pays 5.00 USD. How would you like to pay the remaining 4.00 USD?" in (
            rest.text
        )
        invoice = (await dan.tap("⭐ Pay with Telegram Stars")).last
        assert invoice is not None
        assert invoice["invoice"]["total_amount"] == 14  # 4.00 of 9.00 is 4/9 of 30, rounded up
        assert "the rest after 5.00 USD from your balance" in invoice["invoice"]["description"]
        paid = await dan.pay()
        assert "Payment of 14 XTR received for order A00001" in paid.text
        assert "Your balance: 0.00 USD" in (await dan.send("/balance")).text
    async with db.read() as session:
        order = (await session.execute(select(Order.status, Order.payment_status))).one()
    assert tuple(order) == ("confirmed", "paid")


async def test_staff_switch_cryptobot_to_live_in_admin(
    sandbox: RunningSandbox, make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    settings = bot_settings(
        make_settings,
        sandbox,
        db_url,
        payments={**_providers_at(sandbox), "cryptobot_test_token": "778:CryptoTest"},
    )
    maria = await sandbox.client.user("Maria")
    settings = dataclasses.replace(
        settings, telegram=settings.telegram.model_copy(update={"staff_ids": [maria.id]})
    )
    async with shop(sandbox, settings, db):
        screen = await maria.send("/admin")
        assert "• CryptoBot: 🧪 test" in screen.text
        assert "• YooKassa: 🧪 test (credentials for this mode only)" in screen.text
        assert "💰 CryptoBot: switch to live" in buttons(screen.last)
        switched = await maria.tap("💰 CryptoBot: switch to live")
        assert switched.answer is not None
        assert switched.answer["text"] == "CryptoBot is in 💰 live mode now."
        redrawn = await maria.last_message()
        assert redrawn is not None and "• CryptoBot: 💰 live" in redrawn["text"]
        assert "🧪 CryptoBot: switch to test" in buttons(redrawn)
        # Someone who is not staff cannot press it.
        eve = await sandbox.client.user("Eve")
        await eve.send("/start")
        assert "CryptoBot" not in (await eve.send("/admin", expect=False, wait=0.5)).text
    async with db.read() as session:
        stored = (
            await session.execute(
                select(Setting.value).where(Setting.key == "payments.mode.cryptobot")
            )
        ).scalar_one()
    assert stored == {"mode": "live"}
