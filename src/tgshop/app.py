"""The composition root: the one place that builds the object graph.

The HTTP app, the worker, the CLI and the tests all call :func:`build_container`, so they
run the same services over the same adapters. Nothing here runs at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tgshop.config import Settings
from tgshop.db.engine import Database, create_engine
from tgshop.i18n.translator import Translator
from tgshop.services.cart import CartService
from tgshop.services.catalog import CatalogService
from tgshop.services.change_notices import ChangeNotices
from tgshop.services.checkout import CheckoutService
from tgshop.services.gateway_modes import GatewayModes, Providers, available_modes
from tgshop.services.maintenance import MaintenanceService
from tgshop.services.orders import OrderService
from tgshop.services.payments import PaymentService
from tgshop.services.ports import Clock, PaymentProvider, SystemClock, TelegramClient
from tgshop.services.provider_payments import ProviderPayments
from tgshop.services.refund_requests import RefundRequests
from tgshop.services.sales_stats import SalesStatsService
from tgshop.services.staff import StaffService
from tgshop.services.thumbnails import Thumbnails
from tgshop.services.users import UserService
from tgshop.services.wallet_adjustments import WalletAdjustments

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from tgshop.notice_relay import ListeningRelay


@dataclass
class Container:
    settings: Settings
    db: Database
    clock: Clock
    telegram: TelegramClient | None
    redis: Redis | None
    notices: ChangeNotices
    notice_relay: ListeningRelay | None
    translator: Translator
    catalog: CatalogService
    thumbnails: Thumbnails
    users: UserService
    carts: CartService
    orders: OrderService
    checkout: CheckoutService
    staff: StaffService
    maintenance: MaintenanceService
    sales_stats: SalesStatsService
    payments: PaymentService
    provider_payments: ProviderPayments
    providers: Providers
    gateway_modes: GatewayModes
    wallet_adjustments: WalletAdjustments
    refund_requests: RefundRequests

    async def close(self) -> None:
        for provider in self.providers.values():
            await provider.close()
        if self.redis is not None:
            await self.redis.aclose()
        closer = getattr(self.telegram, "close", None)
        if closer is not None:
            await closer()
        await self.db.dispose()


def build_container(
    settings: Settings,
    *,
    db: Database | None = None,
    clock: Clock | None = None,
    telegram: TelegramClient | None = None,
    providers: Providers | None = None,
) -> Container:
    """Wire every service. ``db``, ``clock``, ``telegram`` and the payment ``providers``
    may be supplied (tests, demo)."""
    database = db or Database(create_engine(settings.database))
    the_clock = clock or SystemClock()
    if telegram is None and settings.telegram.bot_token is not None:
        from tgshop.jobs.telegram_client import AiogramTelegramClient

        telegram = AiogramTelegramClient(settings.telegram)
    notices = ChangeNotices()
    redis = None
    relay: ListeningRelay | None = None
    if settings.redis.url is not None:
        from redis.asyncio import Redis

        from tgshop.notice_relay import RedisNoticeRelay

        redis = Redis.from_url(settings.redis.url.get_secret_value())
        relay = RedisNoticeRelay(redis, settings.redis.key_prefix, notices)
    elif not settings.database.is_sqlite:
        # Replicas sharing a PostgreSQL database hear of each other's changes through it.
        from tgshop.notice_relay import PostgresNoticeRelay

        relay = PostgresNoticeRelay(database, settings.database, notices)
    notices.relay = relay
    orders = OrderService(database, the_clock, settings.shop)
    carts = CartService(
        database,
        the_clock,
        settings.shop,
        lines_seconds=settings.shop.cart_cache_seconds,
        facts_seconds=settings.shop.catalog_cache_seconds,
        notices=notices,
    )
    providers = build_payment_providers(settings) if providers is None else providers
    modes = GatewayModes(
        database,
        the_clock,
        settings.payments.mode,
        available_modes(settings.payments, providers),
    )
    payments = PaymentService(
        database, the_clock, settings.shop, settings.payments, providers, modes
    )
    catalog = CatalogService(
        database,
        clock=the_clock,
        cache_seconds=settings.shop.catalog_cache_seconds,
        notices=notices,
    )
    return Container(
        settings=settings,
        db=database,
        clock=the_clock,
        telegram=telegram,
        redis=redis,
        notices=notices,
        notice_relay=relay,
        translator=Translator.load(),
        catalog=catalog,
        thumbnails=Thumbnails(catalog),
        users=UserService(
            database,
            the_clock,
            remember_seconds=settings.telegram.customer_cache_seconds,
            notices=notices,
        ),
        carts=carts,
        checkout=CheckoutService(database, carts, orders),
        orders=orders,
        staff=StaffService(database, orders, settings.telegram),
        maintenance=MaintenanceService(database, the_clock),
        sales_stats=SalesStatsService(database, the_clock, settings.shop),
        payments=payments,
        provider_payments=ProviderPayments(
            database, the_clock, payments, providers, settings.payments
        ),
        providers=providers,
        gateway_modes=modes,
        wallet_adjustments=WalletAdjustments(database, the_clock, settings.shop),
        refund_requests=RefundRequests(database, the_clock, settings.shop, settings.payments),
    )


def build_payment_providers(settings: Settings) -> Providers:
    """An adapter for each external payment provider and mode that has credentials."""
    pay = settings.payments
    adapters: dict[tuple[str, str], PaymentProvider] = {}
    for mode, token in pay.cryptobot_tokens().items():
        from tgshop.payments.cryptobot import CryptoBotGateway

        adapters[("cryptobot", mode)] = CryptoBotGateway(
            token.get_secret_value(), pay.cryptobot_url_for(mode), pay.cryptobot_assets
        )
    public = settings.telegram.public_url
    for mode, (shop_id, key) in pay.yookassa_credentials().items():
        from tgshop.payments.yookassa import YooKassaGateway

        adapters[("yookassa", mode)] = YooKassaGateway(
            shop_id,
            key.get_secret_value(),
            pay.yookassa_url,
            pay.yookassa_return_url or f"{(public or '').rstrip('/')}/payments/return",
            pay.yookassa_allowed_ips,
        )
    return Providers(adapters)
