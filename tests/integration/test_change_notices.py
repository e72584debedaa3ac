"""Change notices between processes (services/change_notices.py, notice_relay.py): two
containers on one database stand for two replicas, each with its own memories, joined by
Redis pub/sub or by PostgreSQL's LISTEN/NOTIFY. A change made on one must show on the other
at once, and a relay that lost its connection must forget everything when it is back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text, update
from structlog.testing import capture_logs

from tests.integration.test_bot_flow import need_redis, redis_or_not
from tests.support.factories import make_product
from tests.support.fakes import FrozenClock
from tgshop import runtime
from tgshop.app import Container, build_container
from tgshop.config import Settings
from tgshop.db.engine import Database
from tgshop.db.models import CartItem
from tgshop.notice_relay import PostgresNoticeRelay, RedisNoticeRelay
from tgshop.services.users import TelegramUserData

pytestmark = pytest.mark.timeout(60)

ANN = TelegramUserData(telegram_id=7001, first_name="Ann", language_code="en")


@asynccontextmanager
async def replicas(settings: Settings, db: Database) -> AsyncIterator[tuple[Container, Container]]:
    """Two containers with their memories on, each listening to the other's notices."""
    clock = FrozenClock()
    pair = (
        build_container(settings, db=db, clock=clock),
        build_container(settings, db=db, clock=clock),
    )
    listening = []
    for container in pair:
        assert container.notice_relay is not None
        listening.append(asyncio.create_task(container.notice_relay.listen()))
    try:
        for container in pair:
            assert container.notice_relay is not None
            await asyncio.wait_for(container.notice_relay.subscribed.wait(), 10)
        yield pair
    finally:
        for task in listening:
            task.cancel()
        await asyncio.gather(*listening, return_exceptions=True)
        for container in pair:
            if container.redis is not None:
                await container.redis.aclose()


async def eventually(check: Callable[[], Any], what: str) -> None:
    """Notices travel over the network: wait for one (up to 5 s)."""
    for _ in range(100):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def memories_on(make_settings: Callable[..., Settings], db_url: str, **more: Any) -> Settings:
    return make_settings(
        database={"url": db_url},
        shop={"cart_cache_seconds": 60, "catalog_cache_seconds": 60},
        telegram={"customer_cache_seconds": 60},
        **more,
    )


async def a_change_on_one_replica_shows_on_the_other(first: Container, second: Container) -> None:
    ann = await first.users.onboard(ANN)
    tea = await make_product(first.db, variants=[("100 g", 990, 10), ("250 g", 2190, 5)])
    small, large = (v.id for v in tea.variants)
    await first.carts.add(ann.id, small)
    assert (await second.carts.view(ann.id)).item_count == 1  # now remembered there

    await first.carts.add(ann.id, large, 2)  # the bot, say, on the first replica

    async def second_sees_three() -> bool:
        return (await second.carts.view(ann.id)).item_count == 3

    await eventually(second_sees_three, "the second replica sees the added items")

    assert not (await second.users.onboard(ANN)).is_blocked  # remembered there
    await first.users.set_blocked(ann.id, True, "test")

    async def second_sees_blocked() -> bool:
        return (await second.users.onboard(ANN)).is_blocked

    await eventually(second_sees_blocked, "the second replica sees the block")


async def an_import_from_the_command_line_shows_on_a_replica(
    settings: Settings, replica: Container, folder: Path
) -> None:
    """``tgshop catalog import`` is a process of its own: the replica hears of it."""
    catalog = folder / "catalog.json"

    def sencha_at(price: str) -> dict[str, Any]:
        variant = {"sku": "SEN-100", "title": "100 g", "price": price, "stock": 25}
        product = {"key": "sencha", "kind": "physical", "title": "Sencha", "variants": [variant]}
        return {"categories": [], "products": [product]}

    catalog.write_text(json.dumps(sencha_at("9.90")), encoding="utf-8")
    await runtime.import_catalog(settings, catalog)
    page = await replica.catalog.product_detail(key="sencha")
    assert page.variants[0].price.amount == 990  # remembered there

    catalog.write_text(json.dumps(sencha_at("11.00")), encoding="utf-8")
    await runtime.import_catalog(settings, catalog)

    async def replica_sees_the_price() -> bool:
        card = await replica.catalog.product_detail(key="sencha")
        return card.variants[0].price.amount == 1100

    await eventually(replica_sees_the_price, "the replica forgets the catalog")


async def reconnecting_forgets_everything(
    second: Container, ann_id: int, drop: Callable[[], Any]
) -> None:
    """Notices sent while a relay is away are lost: coming back, it forgets everything."""
    before = (await second.carts.view(ann_id)).item_count
    async with second.db.transaction() as session:  # unannounced, like a lost notice
        await session.execute(update(CartItem).values(quantity=3))
    assert (await second.carts.view(ann_id)).item_count == before  # remembered
    relay = second.notice_relay
    assert relay is not None
    relay.subscribed.clear()
    await drop()
    await asyncio.wait_for(relay.subscribed.wait(), 10)
    assert (await second.carts.view(ann_id)).item_count == 3 + 3


async def test_replicas_hear_of_each_others_changes_through_redis(
    make_settings: Callable[..., Settings], db: Database, db_url: str, tmp_path: Path
) -> None:
    await need_redis(True)
    settings = memories_on(make_settings, db_url, **redis_or_not(True))
    async with replicas(settings, db) as (first, second):
        assert isinstance(first.notice_relay, RedisNoticeRelay)
        await a_change_on_one_replica_shows_on_the_other(first, second)
        await an_import_from_the_command_line_shows_on_a_replica(settings, second, tmp_path)
        ann = await first.users.onboard(ANN)

        async def drop() -> None:
            assert second.redis is not None
            await second.redis.execute_command("CLIENT", "KILL", "TYPE", "pubsub")

        await reconnecting_forgets_everything(second, ann.id, drop)


@pytest.mark.postgres
async def test_replicas_hear_of_each_others_changes_through_postgresql(
    make_settings: Callable[..., Settings], db: Database, db_url: str, tmp_path: Path
) -> None:
    settings = memories_on(make_settings, db_url)
    async with replicas(settings, db) as (first, second):
        assert isinstance(first.notice_relay, PostgresNoticeRelay)
        await a_change_on_one_replica_shows_on_the_other(first, second)
        await an_import_from_the_command_line_shows_on_a_replica(settings, second, tmp_path)
        ann = await first.users.onboard(ANN)
        relay = second.notice_relay
        assert isinstance(relay, PostgresNoticeRelay)

        async def drop() -> None:
            async with first.db.core_read() as connection:
                await connection.execute(
                    text("SELECT pg_terminate_backend(:pid)"), {"pid": relay.listener_pid}
                )

        await reconnecting_forgets_everything(second, ann.id, drop)


async def test_a_shop_on_sqlite_without_redis_has_no_relay(
    make_settings: Callable[..., Settings], db: Database, db_url: str, backend: str
) -> None:
    container = build_container(make_settings(database={"url": db_url}), db=db)
    # SQLite serves from one process; PostgreSQL may have several replicas behind it.
    assert (container.notice_relay is None) is (backend == "sqlite")


async def test_a_notice_that_cannot_be_sent_is_logged_and_the_change_stands(
    make_settings: Callable[..., Settings], db: Database, db_url: str
) -> None:
    settings = make_settings(
        database={"url": db_url},
        shop={"cart_cache_seconds": 60},
        redis={"url": "redis://127.0.0.1:1/0", "key_prefix": "nowhere-"},
    )
    container = build_container(settings, db=db, clock=FrozenClock())
    try:
        ann = await container.users.onboard(ANN)
        tea = await make_product(db, variants=[("100 g", 990, 10)])
        assert (await container.carts.view(ann.id)).is_empty  # remembered
        with capture_logs() as logs:
            view = await container.carts.add(ann.id, tea.variants[0].id, 2)
        assert view.item_count == 2
        assert (await container.carts.view(ann.id)).item_count == 2  # forgotten here anyway
        [warning] = [entry for entry in logs if entry["log_level"] == "warning"]
        assert "could not tell the other processes" in warning["event"]
        assert (warning["topic"], warning["key"]) == ("cart", ann.id)
    finally:
        assert container.redis is not None
        await container.redis.aclose()
