"""The Mini App API over HTTP (our FastAPI app in process): initData sign-in and every way
it is refused, the public catalog with ETags, and a customer's own balance, cart and orders
— another customer's order is "not found", a price a client sends is never taken.
initData is signed by the sandbox's own signer, the way Telegram signs it. SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import httpx
import pytest

from tests.integration.test_bot_flow import need_redis, redis_or_not
from tests.support.factories import give_balance, make_category, make_product, make_user
from tests.support.fakes import FrozenClock, RecordingTelegram
from tgshop.api.app import create_http_app
from tgshop.app import Container, build_container
from tgshop.config import ConfigError, Settings
from tgshop.db.engine import Database
from tgshop.sandbox.state import Account
from tgshop.sandbox.webapp import LaunchKey, sign_init_data
from tgshop.services.order_placement import OrderLine, PlaceOrderRequest

TOKEN = "424242:AAsandboxTokenForTheMiniApp_0123456789"
OTHER_BOT = "515151:AAanotherBotEntirely_0123456789abcd"
ANN = Account(id=9001, first_name="Ann", username="ann", language_code="en")
BEN = Account(id=9002, first_name="Ben", language_code="ru")


@pytest.fixture
async def container(
    make_settings: Callable[..., Settings], db: Database, db_url: str, clock: FrozenClock
) -> Container:
    settings = make_settings(database={"url": db_url}, telegram={"bot_token": TOKEN})
    return build_container(settings, db=db, clock=clock)


@pytest.fixture
async def api(container: Container) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_http_app(container))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


def tma(
    clock: FrozenClock,
    who: Account = ANN,
    *,
    token: str = TOKEN,
    age: float = 0,
    key: LaunchKey | None = None,
) -> dict:
    issued = int((clock.now() - timedelta(seconds=age)).timestamp())
    return {"Authorization": f"tma {sign_init_data(token, who, auth_date=issued, key=key)}"}


async def test_third_party_check_trusts_the_ed25519_signature_without_the_token(
    make_settings: Callable[..., Settings], db: Database, db_url: str, clock: FrozenClock
) -> None:
    """TGSHOP_API_INIT_DATA_CHECK=signature: the API holds no token, only the bot id and the
    public key of whoever signs launch data (Telegram; here the sandbox's own key pair)."""
    telegram_key, impostor = LaunchKey(), LaunchKey()
    settings = make_settings(
        database={"url": db_url},
        api={
            "init_data_check": "signature",
            "init_data_public_key": telegram_key.public_hex.upper(),
            "bot_id": int(TOKEN.split(":")[0]),
        },
    )
    assert settings.telegram.bot_token is None
    app = create_http_app(build_container(settings, db=db, clock=clock))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
        signed = await api.get("/api/v1/me", headers=tma(clock, key=telegram_key))
        assert signed.status_code == 200, signed.text
        assert signed.json()["telegram_id"] == ANN.id

        cases = {
            # Only the token's hash: a client before Bot API 8.0.
            "no_signature": tma(clock),
            # Signed by someone else's key, or by Telegram for another bot.
            "bad_signature": tma(clock, key=impostor),
            "expired": tma(clock, key=telegram_key, age=3601),
        }
        other_bot = tma(clock, token=OTHER_BOT, key=telegram_key)
        tampered = tma(clock, key=telegram_key)["Authorization"].replace("%22Ann%22", "%22Eve%22")
        for reason, headers in cases.items():
            answer = await api.get("/api/v1/me", headers=headers)
            assert (answer.status_code, answer.json()["reason"]) == (401, reason), answer.text
        for headers in (other_bot, {"Authorization": tampered}):
            answer = await api.get("/api/v1/me", headers=headers)
            assert (answer.status_code, answer.json()["reason"]) == (401, "bad_signature")


async def test_signature_checks_need_a_bot_id_and_a_real_key(
    make_settings: Callable[..., Settings], db: Database, db_url: str, clock: FrozenClock
) -> None:
    settings = make_settings(database={"url": db_url}, api={"init_data_check": "signature"})
    app = create_http_app(build_container(settings, db=db, clock=clock))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
        answer = await api.get("/api/v1/me", headers=tma(clock, key=LaunchKey()))
    assert answer.json()["reason"] == "not_configured"
    assert "TGSHOP_API_BOT_ID" in answer.json()["detail"]
    with pytest.raises(ConfigError) as refused:
        make_settings(api={"init_data_public_key": "not-a-key"})
    assert [p.variable for p in refused.value.problems] == ["TGSHOP_API_INIT_DATA_PUBLIC_KEY"]


async def test_initdata_that_is_missing_forged_expired_or_foreign_is_refused(
    api: httpx.AsyncClient, clock: FrozenClock
) -> None:
    good = tma(clock)["Authorization"]
    forged = good.replace("%22Ann%22", "%22Eve%22")  # the user changed, the hash kept
    cases = {
        "missing": {},
        "malformed": {"Authorization": "tma not-init-data"},
        "bad_signature": {"Authorization": forged},
        "expired": tma(clock, age=3601),
        "from_the_future": tma(clock, age=-600),
    }
    for reason, headers in cases.items():
        answer = await api.get("/api/v1/me", headers=headers)
        assert answer.status_code == 401, reason
        assert answer.headers["content-type"] == "application/problem+json"
        assert answer.headers["www-authenticate"] == "tma"
        assert answer.json()["reason"] == reason, answer.json()
    foreign = await api.get("/api/v1/me", headers=tma(clock, token=OTHER_BOT))
    assert foreign.status_code == 401
    assert foreign.json()["reason"] == "bad_signature"
    assert "another bot" in foreign.json()["detail"]
    assert (await api.get("/api/v1/me", headers=tma(clock, age=3500))).status_code == 200


async def test_launch_data_checked_before_expires_exactly_when_it_would_have(
    api: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """Accepted launch data is remembered by its text (no second signature check), but its
    time limit is applied on every request, with the same boundary as a first check."""
    launch = tma(clock)
    assert (await api.get("/api/v1/me", headers=launch)).status_code == 200
    clock.advance(seconds=3600)
    assert (await api.get("/api/v1/me", headers=launch)).status_code == 200
    assert (await api.get("/api/v1/me", headers=tma(clock, age=3600))).status_code == 200
    clock.advance(seconds=1)
    for headers in (launch, tma(clock, age=3601)):  # remembered, and checked afresh
        answer = await api.get("/api/v1/me", headers=headers)
        assert (answer.status_code, answer.json()["reason"]) == (401, "expired")
    # Only the exact text is remembered: a changed byte is checked, and refused.
    forged = tma(clock)["Authorization"].replace("%22Ann%22", "%22Eve%22")
    answer = await api.get("/api/v1/me", headers={"Authorization": forged})
    assert (answer.status_code, answer.json()["reason"]) == (401, "bad_signature")


async def test_me_is_the_telegram_user_with_their_balance(
    api: httpx.AsyncClient, clock: FrozenClock, db: Database
) -> None:
    first = await api.get("/api/v1/me", headers=tma(clock))
    assert first.status_code == 200
    assert first.headers["cache-control"] == "private, no-store"
    me = first.json()
    assert (me["telegram_id"], me["first_name"], me["username"]) == (9001, "Ann", "ann")
    assert me["balance"] == {"amount": 0, "currency": "USD", "display": "0.00 USD"}
    await give_balance(db, me["id"], 1250)
    again = (await api.get("/api/v1/me", headers=tma(clock))).json()
    assert again["id"] == me["id"]  # the same customer, not a new one
    assert again["balance"]["display"] == "12.50 USD"


async def test_the_catalog_is_public_paged_and_cacheable(
    api: httpx.AsyncClient, db: Database
) -> None:
    tea = await make_category(db, "Tea")
    for n in range(5):
        await make_product(
            db, f"Sencha {n}", category_id=tea.id, variants=[("100 g", 500 + n * 100, n)]
        )
    await make_product(db, "Teapot", variants=[("1 l", 2500, None)])

    tree = await api.get("/api/v1/categories")
    assert tree.status_code == 200
    assert [c["title"] for c in tree.json()["items"]] == ["Tea"]

    first = await api.get("/api/v1/products", params={"category_id": tea.id, "limit": 2})
    assert first.status_code == 200
    page = first.json()
    assert page["total"] == 5 and len(page["items"]) == 2
    assert page["items"][0]["price_from"]["currency"] == "USD"
    assert first.headers["cache-control"].startswith("public, max-age=")
    seen, cursor = [i["title"] for i in page["items"]], page["next_cursor"]
    while cursor:
        more = (
            await api.get(
                "/api/v1/products", params={"category_id": tea.id, "limit": 2, "cursor": cursor}
            )
        ).json()
        seen += [i["title"] for i in more["items"]]
        cursor = more["next_cursor"]
    assert sorted(seen) == [f"Sencha {n}" for n in range(5)]

    in_stock = (
        await api.get("/api/v1/products", params={"in_stock": "true", "q": "sencha"})
    ).json()
    assert in_stock["total"] == 4  # Sencha 0 has no stock
    cheap = (await api.get("/api/v1/products", params={"max_price": 600})).json()
    assert sorted(i["title"] for i in cheap["items"]) == ["Sencha 0", "Sencha 1"]

    # An unchanged answer is not sent again.
    etag = first.headers["etag"]
    same = await api.get(
        "/api/v1/products",
        params={"category_id": tea.id, "limit": 2},
        headers={"If-None-Match": etag},
    )
    assert same.status_code == 304 and same.content == b""

    product_id = page["items"][0]["id"]
    detail = await api.get(f"/api/v1/products/{product_id}")
    assert detail.status_code == 200
    assert detail.json()["variants"][0]["sku"]
    assert (await api.get("/api/v1/products/999999")).status_code == 404
    bad_cursor = await api.get("/api/v1/products", params={"cursor": "bm9wZQ"})
    assert bad_cursor.status_code == 400
    assert "cursor" in bad_cursor.json()["detail"]
    assert (await api.get("/api/v1/products", params={"limit": 0})).status_code == 422


async def test_the_cart_is_the_bots_cart_and_prices_come_from_the_shop(
    api: httpx.AsyncClient, clock: FrozenClock, container: Container
) -> None:
    product = await make_product(container.db, "Teapot", variants=[("1 l", 2500, 3)])
    variant = product.variants[0].id
    empty = (await api.get("/api/v1/cart", headers=tma(clock))).json()
    assert empty["lines"] == [] and empty["total"]["amount"] == 0

    # A client that slips in a price is refused, not half-heard.
    sneaky = await api.put(
        f"/api/v1/cart/items/{variant}",
        headers=tma(clock),
        json={"quantity": 2, "unit_price": 1},
    )
    assert sneaky.status_code == 422
    put = await api.put(f"/api/v1/cart/items/{variant}", headers=tma(clock), json={"quantity": 2})
    assert put.status_code == 200
    cart = put.json()
    assert [(line["quantity"], line["unit_price"]["amount"]) for line in cart["lines"]] == [
        (2, 2500)
    ]
    assert cart["total"]["display"] == "50.00 USD"

    # The same cart the bot shows.
    me = (await api.get("/api/v1/me", headers=tma(clock))).json()
    assert (await container.carts.view(me["id"])).item_count == 2
    too_many = await api.put(
        f"/api/v1/cart/items/{variant}", headers=tma(clock), json={"quantity": -1}
    )
    assert too_many.status_code == 422
    unknown = await api.put("/api/v1/cart/items/999999", headers=tma(clock), json={"quantity": 1})
    assert unknown.status_code == 404
    removed = await api.delete(f"/api/v1/cart/items/{variant}", headers=tma(clock))
    assert removed.json()["lines"] == []
    assert (await api.get("/api/v1/cart")).status_code == 401


async def test_an_order_of_someone_else_is_not_found(
    api: httpx.AsyncClient, clock: FrozenClock, container: Container
) -> None:
    product = await make_product(container.db, "Teapot", variants=[("1 l", 2500, 3)])
    ann_id = (await api.get("/api/v1/me", headers=tma(clock))).json()["id"]
    await api.get("/api/v1/me", headers=tma(clock, BEN))
    order = await container.orders.place_order(
        PlaceOrderRequest(user_id=ann_id, lines=[OrderLine(product.variants[0].id, 1)])
    )
    mine = await api.get(f"/api/v1/orders/{order.id}", headers=tma(clock))
    assert mine.status_code == 200
    body = mine.json()
    assert (body["number"], body["status"], body["total"]["display"]) == (
        order.number,
        "awaiting_payment",
        "25.00 USD",
    )
    assert body["history"][0]["to_status"] == "awaiting_payment"
    listed = (await api.get("/api/v1/orders", headers=tma(clock))).json()
    assert [o["id"] for o in listed["items"]] == [order.id] and listed["next_offset"] is None

    theirs = await api.get(f"/api/v1/orders/{order.id}", headers=tma(clock, BEN))
    assert theirs.status_code == 404
    assert (await api.get("/api/v1/orders", headers=tma(clock, BEN))).json()["items"] == []


async def test_cors_is_closed_unless_an_origin_is_configured(
    make_settings: Callable[..., Settings], db: Database, db_url: str, clock: FrozenClock
) -> None:
    preflight = {
        "Origin": "https://shop.example.org",
        "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization,content-type",
    }
    for origins, allowed in (("", False), ("https://shop.example.org", True)):
        settings = make_settings(
            database={"url": db_url},
            telegram={"bot_token": TOKEN},
            api={"cors_origins": origins},
        )
        app = create_http_app(build_container(settings, db=db, clock=clock))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            answer = await client.options("/api/v1/cart/items/1", headers=preflight)
            stranger = await client.options(
                "/api/v1/cart/items/1", headers={**preflight, "Origin": "https://evil.example"}
            )
        granted = answer.headers.get("access-control-allow-origin")
        assert (granted == "https://shop.example.org") is allowed, answer.headers
        assert "access-control-allow-origin" not in stranger.headers


@pytest.fixture
async def shop_api(
    make_settings: Callable[..., Settings],
    db: Database,
    db_url: str,
    clock: FrozenClock,
    telegram: RecordingTelegram,
) -> AsyncIterator[tuple[httpx.AsyncClient, Container]]:
    """The API with Telegram played by a recorder (invoice links) and a Stars rate."""
    settings = make_settings(
        database={"url": db_url},
        telegram={"bot_token": TOKEN},
        payments={"stars_rate": "10"},
    )
    container = build_container(settings, db=db, clock=clock, telegram=telegram)
    transport = httpx.ASGITransport(app=create_http_app(container))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client, container


async def test_checkout_checks_every_answer_and_the_agreed_total(
    shop_api: tuple[httpx.AsyncClient, Container], clock: FrozenClock
) -> None:
    api, container = shop_api
    empty = await api.get("/api/v1/checkout", headers=tma(clock))
    assert (empty.status_code, empty.json()["code"]) == (400, "empty_cart")
    teapot = await make_product(container.db, "Teapot", variants=[("1 l", 2500, 3)])
    await api.put(
        f"/api/v1/cart/items/{teapot.variants[0].id}", headers=tma(clock), json={"quantity": 2}
    )
    review = (await api.get("/api/v1/checkout", headers=tma(clock))).json()
    assert review["needs_delivery"] is True
    assert review["cart"]["total"]["amount"] == 5000
    assert review["payment_methods"] == ["stars", "wallet"]

    answers = {"expected_total": 5000, "name": "Ann Smith", "phone": "+44 20 7946 0958"}
    no_address = await api.post("/api/v1/checkout", headers=tma(clock), json=answers)
    assert no_address.status_code == 400
    assert (no_address.json()["field"], no_address.json()["reason"]) == ("address", "missing")
    bad_phone = await api.post(
        "/api/v1/checkout",
        headers=tma(clock),
        json={**answers, "phone": "call me", "address": "1 Tea Lane, London"},
    )
    assert (bad_phone.status_code, bad_phone.json()["field"]) == (400, "phone")
    full = {**answers, "address": "1 Tea Lane, London"}
    changed = await api.post(
        "/api/v1/checkout", headers=tma(clock), json={**full, "expected_total": 4000}
    )
    assert (changed.status_code, changed.json()["code"]) == (409, "price_changed")
    sneaky = await api.post("/api/v1/checkout", headers=tma(clock), json={**full, "total": 1})
    assert sneaky.status_code == 422
    placed = await api.post("/api/v1/checkout", headers=tma(clock), json=full)
    assert placed.status_code == 201, placed.json()
    order = placed.json()["order"]
    assert (order["status"], order["total"]["amount"]) == ("awaiting_payment", 5000)
    assert order["delivery"]["phone"] == "+442079460958"
    assert (await api.get("/api/v1/cart", headers=tma(clock))).json()["lines"] == []


async def test_paying_in_stars_from_the_balance_and_asking_a_refund(
    shop_api: tuple[httpx.AsyncClient, Container],
    clock: FrozenClock,
    telegram: RecordingTelegram,
) -> None:
    api, container = shop_api
    guide = await make_product(container.db, "Guide", kind="digital", variants=[("PDF", 900, 5)])
    variant = guide.variants[0].id
    await api.put(f"/api/v1/cart/items/{variant}", headers=tma(clock), json={"quantity": 1})
    order = (
        await api.post("/api/v1/checkout", headers=tma(clock), json={"expected_total": 900})
    ).json()["order"]
    pay = f"/api/v1/orders/{order['id']}/payment"

    invoice = await api.post(pay, headers=tma(clock), json={"method": "stars"})
    assert invoice.status_code == 200, invoice.json()
    body = invoice.json()
    assert (body["status"], body["amount"]["display"]) == ("invoice", "90 XTR")
    assert body["url"].startswith("https://t.me/$")
    sent = telegram.invoice_links[-1]
    assert (sent["currency"], sent["amount"], sent["provider_token"]) == ("XTR", 90, "")
    assert sent["title"] == f"Order {order['number']}"

    assert (
        await api.post(pay, headers=tma(clock, BEN), json={"method": "stars"})
    ).status_code == 404
    assert (await api.post(pay, headers=tma(clock), json={"method": "gold"})).status_code == 422
    short = await api.post(pay, headers=tma(clock), json={"method": "wallet"})
    assert (short.status_code, short.json()["code"]) == (409, "insufficient_funds")
    no_card = await api.post(pay, headers=tma(clock), json={"method": "card"})
    assert (no_card.status_code, no_card.json()["reason"]) == (409, "switched_off")

    me = (await api.get("/api/v1/me", headers=tma(clock))).json()
    await give_balance(container.db, me["id"], 500)
    mixed = (
        await api.post(pay, headers=tma(clock), json={"method": "stars", "use_balance": True})
    ).json()
    assert (mixed["amount"]["display"], mixed["from_balance"]["display"]) == ("40 XTR", "5.00 USD")
    await give_balance(container.db, me["id"], 400)
    paid = await api.post(pay, headers=tma(clock), json={"method": "wallet"})
    assert paid.json()["status"] == "paid"
    shown = (await api.get(f"/api/v1/orders/{order['id']}", headers=tma(clock))).json()
    assert (shown["status"], shown["payment_status"]) == ("confirmed", "paid")
    again = await api.post(pay, headers=tma(clock), json={"method": "stars"})
    assert (again.status_code, again.json()["reason"]) == (409, "paid")

    # Digital goods are not refunded on request by default: the refusal says so.
    refused = await api.post(
        "/api/v1/refunds",
        headers=tma(clock),
        json={"order_numbers": [order["number"]], "reason": "wrong file"},
    )
    assert refused.status_code == 409
    assert refused.json()["refused"][0]["reason"] == "window_closed"


async def test_a_refund_request_through_the_api(
    shop_api: tuple[httpx.AsyncClient, Container], clock: FrozenClock
) -> None:
    api, container = shop_api
    teapot = await make_product(container.db, "Teapot", variants=[("1 l", 2500, 3)])
    me = (await api.get("/api/v1/me", headers=tma(clock))).json()
    order = await container.orders.place_order(
        PlaceOrderRequest(user_id=me["id"], lines=[OrderLine(teapot.variants[0].id, 1)])
    )
    staff = await make_user(container.db, first_name="Maria")
    await container.payments.mark_paid_by_staff(order.number, staff.id, "cash")
    asked = await api.post(
        "/api/v1/refunds",
        headers=tma(clock),
        json={"order_numbers": [order.number.lower()], "reason": "the lid is cracked"},
    )
    assert asked.status_code == 201, asked.json()
    assert asked.json() == [
        {
            "id": asked.json()[0]["id"],
            "number": order.number,
            "amount": {"amount": 2500, "currency": "USD", "display": "25.00 USD"},
            "status": "requested",
        }
    ]
    twice = await api.post(
        "/api/v1/refunds",
        headers=tma(clock),
        json={"order_numbers": [order.number], "reason": "still cracked"},
    )
    assert twice.json()["refused"] == [
        {"number": order.number, "reason": "pending", "closed_at": None}
    ]
    short = await api.post(
        "/api/v1/refunds", headers=tma(clock), json={"order_numbers": [], "reason": "x"}
    )
    assert short.status_code == 422


@pytest.mark.parametrize("with_redis", [False, True], ids=["memory", "redis"])
async def test_rate_limits_per_address_and_per_customer(
    make_settings: Callable[..., Settings],
    db: Database,
    db_url: str,
    clock: FrozenClock,
    with_redis: bool,
) -> None:
    await need_redis(with_redis)
    settings = make_settings(
        database={"url": db_url},
        telegram={"bot_token": TOKEN},
        api={"rate_limit_ip": "6/minute", "rate_limit_user": "2/minute"},
        **redis_or_not(with_redis),
    )
    container = build_container(settings, db=db, clock=clock)
    app = create_http_app(container)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for _ in range(2):
            assert (await client.get("/api/v1/me", headers=tma(clock))).status_code == 200
        third = await client.get("/api/v1/me", headers=tma(clock))
        assert third.status_code == 429
        assert third.json()["scope"] == "user"
        assert 1 <= int(third.headers["retry-after"]) <= 60
        # Another customer from the same address still gets in, until the address is spent.
        assert (await client.get("/api/v1/me", headers=tma(clock, BEN))).status_code == 200
        for _ in range(2):  # the address's sixth request is its last this minute
            assert (await client.get("/api/v1/categories")).status_code == 200
        spent = await client.get("/api/v1/categories")
        assert (spent.status_code, spent.json()["scope"]) == (429, "ip")
        assert spent.headers["content-type"] == "application/problem+json"
    if container.redis is not None:
        await container.redis.aclose()
