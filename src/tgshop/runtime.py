"""Long-running shapes of the process: `serve`, `worker`, `demo`, and one-shot commands.

Signals: SIGINT/SIGTERM stop the HTTP server (in-flight requests finish) and the worker
(in-flight jobs finish or are released for another worker), then the process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import secrets
import signal
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog
from aiogram import Bot, Dispatcher
from pydantic import SecretStr

from tgshop.api.telegram_webhook import WEBHOOK_PATH
from tgshop.app import Container, build_container
from tgshop.bot.dedup import DatabaseDeduplicator
from tgshop.bot.factory import register_commands
from tgshop.config import Settings, ShopSettings, settings_problems
from tgshop.db import migrate
from tgshop.db.engine import Database, create_engine

if TYPE_CHECKING:
    from tgshop.jobs.worker import Worker

log = structlog.get_logger("tgshop.runtime")


@dataclass(frozen=True)
class ServeOptions:
    host: str
    port: int
    worker: bool
    migrate: bool
    polling: bool = False


def _configure_logging(settings: Settings) -> None:
    from tgshop.logging import configure_logging

    configure_logging(settings.app)


def _refuse_unsafe(settings: Settings) -> bool:
    problems = settings_problems(settings)
    for problem in problems:
        log.error(
            "config.problem", variable=problem.variable, problem=problem.message, hint=problem.hint
        )
    if problems:
        log.error("refusing to start: fix the problems above (see `tgshop check`)")
    return bool(problems)


async def run_migrations(settings: Settings) -> str | None:
    db = Database(create_engine(settings.database))
    try:
        await migrate.upgrade(db)
        return await migrate.current_revision(db)
    finally:
        await db.dispose()


@contextlib.contextmanager
def _on_signals(callback: Callable[[], None]) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, callback)
            installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def build_worker(container: Container) -> Worker:
    """The outbox worker with every job kind and its periodic tasks: expiring unpaid
    orders, purging old marks and conversations, (with a bot token) reconciling Telegram
    Stars payments every ten minutes, and re-checking payments left pending at CryptoBot or
    YooKassa with their provider."""
    from tgshop.jobs.handlers import default_handlers
    from tgshop.jobs.worker import Worker

    periodic: list[tuple[float, Callable[[], Awaitable[int]]]] = [
        (30.0, container.orders.expire_unpaid),
        (3600.0, DatabaseDeduplicator(container.db, container.clock).purge),
        (3600.0, _fsm_purge(container)),
    ]
    if container.telegram is not None and container.settings.payments.stars_enabled:
        from tgshop.services.reconciliation import StarsReconciler

        reconciler = StarsReconciler(
            container.db, container.clock, container.payments, container.telegram
        )
        periodic.append((600.0, reconciler.run_periodically))
    if container.providers:
        minutes = container.settings.payments.pending_check_minutes
        periodic.append((minutes * 60.0, container.provider_payments.run_periodically))
    return Worker(
        container.db,
        default_handlers(container, container.translator),
        container.settings.worker,
        container.clock,
        periodic=periodic,
    )


def _fsm_purge(container: Container) -> Callable[[], Awaitable[int]]:
    """Forget conversations (FSM rows) untouched for long; in Redis its TTLs do this."""
    from tgshop.bot.fsm_storage import DatabaseStorage

    idle = timedelta(minutes=container.settings.telegram.fsm_idle_minutes)
    return DatabaseStorage(container.db, container.clock, idle).purge


@dataclass
class TelegramFront:
    """The bot's side of the HTTP app: the webhook route and what it feeds."""

    bot: Bot
    dispatcher: Dispatcher
    router: Any

    async def register_webhook(self, url: str, secret: str | None) -> bool:
        """Tell Telegram where to deliver; log clearly when it refuses and why."""
        try:
            await self.bot.set_webhook(
                url,
                secret_token=secret,
                allowed_updates=self.dispatcher.resolve_used_update_types(),
            )
        except Exception as exc:
            log.error("webhook registration failed", url=url, reason=f"{type(exc).__name__}: {exc}")
            return False
        log.info("webhook registered", url=url)
        return True


def build_telegram_front(container: Container) -> TelegramFront | None:
    """The customer bot over the webhook, when a bot token is configured."""
    if container.settings.telegram.bot_token is None:
        return None
    from tgshop.api.telegram_webhook import build_telegram_webhook_router
    from tgshop.bot.dedup import RedisDeduplicator
    from tgshop.bot.factory import build_bot, build_dispatcher

    bot = build_bot(container.settings.telegram)
    dispatcher = build_dispatcher(container)
    dedup = (
        RedisDeduplicator(container.redis, container.settings.redis.key_prefix)
        if container.redis is not None
        else DatabaseDeduplicator(container.db, container.clock)
    )
    secret = container.settings.telegram.webhook_secret
    router = build_telegram_webhook_router(
        bot, dispatcher, secret.get_secret_value() if secret else None, dedup
    )
    return TelegramFront(bot, dispatcher, router)


async def _serve_container(
    container: Container,
    options: ServeOptions,
    *,
    mount: Any = None,
    on_started: Callable[[TelegramFront], Awaitable[Any]] | None = None,
) -> int:
    """Serve the HTTP app (and ``mount``, an ASGI app for every other path) plus the worker."""
    import uvicorn

    from tgshop.api.app import create_http_app

    class Server(uvicorn.Server):
        # We own SIGINT/SIGTERM: uvicorn would re-raise them after its own shutdown and
        # kill the process before the worker has released its jobs.
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    front = build_telegram_front(container)
    polling_lock = None
    if options.polling:
        if front is None:
            log.error("polling needs TGSHOP_BOT_TOKEN")
            return 2
        from tgshop.bot.polling_lock import PollerAlreadyRunning, PollingLock

        polling_lock = PollingLock(container.db, front.bot.id)
        try:
            await polling_lock.acquire()
        except PollerAlreadyRunning as held:
            log.error(
                "another tgshop is already polling for this bot; exiting instead of fighting "
                "over getUpdates (Telegram would answer Conflict to both)",
                lock=str(held),
            )
            await front.bot.session.close()
            return 3
    http = create_http_app(container, routers=[front.router] if front is not None else [])
    if mount is not None:
        http.mount("/", mount)
    config = uvicorn.Config(
        http,
        host=options.host,
        port=options.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
    )
    server = Server(config)
    worker = build_worker(container) if options.worker else None

    polling_task: asyncio.Task[None] | None = None

    def stop() -> None:
        log.info("shutdown requested")
        server.should_exit = True
        if worker is not None:
            worker.stop()

    worker_failed = False

    def on_worker_done(task: asyncio.Task[None]) -> None:
        # A worker that dies must not leave the HTTP side taking orders nobody processes.
        nonlocal worker_failed
        if not task.cancelled() and task.exception() is not None:
            worker_failed = True
            log.error("the worker stopped with an error; shutting down", exc_info=task.exception())
            server.should_exit = True

    # Everything built so far (modules, pydantic models, the app) lives as long as the
    # process: move it out of the collector's sight, so full collections walk only what
    # requests create (they paused every request for 0.3-0.4 s; bench/bot.py).
    gc.collect()
    gc.freeze()
    with _on_signals(stop):
        worker_task = asyncio.create_task(worker.run()) if worker is not None else None
        if worker_task is not None:
            worker_task.add_done_callback(on_worker_done)
        if polling_lock is not None and front is not None:
            await front.bot.delete_webhook()  # Telegram refuses getUpdates while one is set
            polling_task = asyncio.create_task(
                front.dispatcher.start_polling(
                    front.bot, handle_signals=False, close_bot_session=False
                )
            )
            log.info("polling for updates", lock=polling_lock.where)
            on_started = _no_webhook
        started = asyncio.create_task(_after_start(server, front, on_started, container))
        # Other replicas' change notices (carts, customers) reach this process's memories.
        relay = container.notice_relay
        listening = asyncio.create_task(relay.listen()) if relay is not None else None
        try:
            await server.serve()
        finally:
            started.cancel()
            if listening is not None:
                listening.cancel()
                await asyncio.gather(listening, return_exceptions=True)
            if polling_task is not None and front is not None:
                with contextlib.suppress(RuntimeError):  # already stopped by the signal
                    await front.dispatcher.stop_polling()
                await asyncio.gather(polling_task, return_exceptions=True)
            if polling_lock is not None:
                await polling_lock.release()
            if front is not None:
                await front.bot.session.close()
            if worker is not None and worker_task is not None:
                worker.stop()
                await asyncio.gather(worker_task, return_exceptions=True)
    if not server.started:
        log.error("the HTTP server could not start", host=options.host, port=options.port)
        return 1
    if worker_failed:
        return 1
    log.info("stopped cleanly")
    return 0


async def _no_webhook(front: TelegramFront) -> None:
    """Polling: nothing to register once the server listens."""


async def _after_start(
    server: Any,
    front: TelegramFront | None,
    on_started: Callable[[TelegramFront], Awaitable[Any]] | None,
    container: Container,
) -> None:
    """Once the server listens: register the webhook (production, or when told to)."""
    while not server.started:
        if server.should_exit:
            return
        await asyncio.sleep(0.05)
    if front is None:
        return
    try:
        await register_commands(front.bot, container.translator)
    except Exception as exc:
        log.warning("could not register the bot's commands", reason=f"{type(exc).__name__}: {exc}")
    if on_started is not None:
        await on_started(front)
        return
    telegram = container.settings.telegram
    if container.settings.app.is_production and telegram.public_url:
        secret = telegram.webhook_secret.get_secret_value() if telegram.webhook_secret else None
        await front.register_webhook(f"{telegram.public_url}{WEBHOOK_PATH}", secret)


async def serve(settings: Settings, options: ServeOptions) -> int:
    _configure_logging(settings)
    if _refuse_unsafe(settings):
        return 2
    container = build_container(settings)
    try:
        if options.migrate:
            await migrate.upgrade(container.db)
        return await _serve_container(container, options)
    finally:
        await container.close()


async def run_worker(settings: Settings, *, migrate: bool) -> int:
    _configure_logging(settings)
    if _refuse_unsafe(settings):
        return 2
    container = build_container(settings)
    try:
        if migrate:
            await _migrate(container)
        elif not await _is_at_head(container):
            log.error("database schema is not at head; run `tgshop migrate` first")
            return 1
        worker = build_worker(container)
        with _on_signals(worker.stop):
            await worker.run()
        return 0
    finally:
        await container.close()


async def _migrate(container: Container) -> None:
    await migrate.upgrade(container.db)


async def _is_at_head(container: Container) -> bool:
    return await migrate.is_at_head(container.db)


async def demo(settings: Settings, options: ServeOptions) -> int:
    """The embedded shop plus the sandbox standing in for Telegram, in one process: the demo
    catalog is loaded (idempotently), the shop's bot token and API URL point at the sandbox,
    and new orders are announced in the sandbox's managers' group."""
    import dataclasses

    from tgshop.demo import load_demo_catalog
    from tgshop.sandbox.demo import demo_world
    from tgshop.sandbox.server import create_sandbox_app

    _configure_logging(settings)
    world = demo_world()
    base = f"http://{options.host}:{options.port}"
    webhook_secret = secrets.token_urlsafe(24)
    telegram = settings.telegram.model_copy(
        update={
            "bot_token": SecretStr(world.bot.token),
            "webhook_secret": SecretStr(webhook_secret),
            "telegram_api_url": base,
            "public_url": base,
            "manager_chat_id": world.manager_chat.id,
            "staff_ids": [world.manager_id],
        }
    )
    shop = settings.shop
    if shop.name == ShopSettings.model_fields["name"].default:
        shop = shop.model_copy(update={"name": world.bot.account.first_name})
    payments = settings.payments.model_copy(update=_demo_providers(world, base))
    settings = dataclasses.replace(settings, telegram=telegram, shop=shop, payments=payments)
    container = build_container(settings)
    try:
        await migrate.upgrade(container.db)
        report = await load_demo_catalog(
            container.db, shop_currency=settings.shop.currency, clock=container.clock
        )
        log.info("demo catalog loaded", report=str(report))
        print(  # noqa: T201 - the banner is for the person who typed the command
            "\ntgshop demo is running — offline, no token needed.\n"
            f"  Telegram sandbox (chat as customers, watch the managers' chat): {base}/sandbox/\n"
            f'  Mini App: press "Open shop" in the sandbox chat (pages at {base}/app)\n'
            f"  Health and metrics: {base}/health  {base}/ready  {base}/metrics\n"
            "Press Ctrl+C to stop.\n",
            flush=True,
        )

        async def deliver_here(front: TelegramFront) -> None:
            await front.register_webhook(f"{base}{WEBHOOK_PATH}", webhook_secret)

        return await _serve_container(
            container, options, mount=create_sandbox_app(world.sandbox), on_started=deliver_here
        )
    finally:
        await world.sandbox.close()
        await container.close()


def _demo_providers(world: Any, base: str) -> dict[str, Any]:
    """Cards, CryptoBot and YooKassa in the demo, all played by the sandbox: their
    notifications come back to this process's own webhook routes."""
    crypto_token = f"{secrets.randbelow(10**6)}:{secrets.token_urlsafe(16)}"
    shop_id, shop_key = str(100000 + secrets.randbelow(900000)), secrets.token_urlsafe(16)
    world.sandbox.add_crypto_app(crypto_token, f"{base}/payments/cryptobot/webhook")
    world.sandbox.add_yookassa_shop(
        shop_id, f"test_{shop_key}", f"{base}/payments/yookassa/webhook"
    )
    return {
        "mode": "test",
        "card_provider_token": SecretStr("284685063:TEST:sandbox"),
        "cryptobot_token": SecretStr(crypto_token),
        "cryptobot_url": f"{base}/cryptobot/api",
        "yookassa_shop_id": shop_id,
        "yookassa_secret_key": SecretStr(shop_key),
        "yookassa_url": f"{base}/yookassa/v3",
        "yookassa_return_url": f"{base}/payments/return",
    }


async def import_catalog(settings: Settings, path: Path) -> Any:
    """``tgshop catalog import``: through Redis or PostgreSQL, the running processes hear of
    it and show the new catalog at once (on SQLite without Redis, within their memory's
    time)."""
    container = build_container(settings)
    try:
        await migrate.upgrade(container.db)
        return await container.catalog.import_catalog(path, shop_currency=settings.shop.currency)
    finally:
        await container.close()


async def export_catalog(settings: Settings, output: Path | None) -> str:
    """Export as JSON text; with ``output`` the file and its images are written there."""
    from tgshop.services.catalog_export import (
        count_image_refs,
        dumps_catalog,
        write_catalog_file,
    )
    from tgshop.services.catalog_export import (
        export_catalog as run_export,
    )

    container = build_container(settings)
    try:
        if not await migrate.is_at_head(container.db):
            raise SystemExit("database schema is not at head; run `tgshop migrate` first")
        if output is not None:
            return str(await write_catalog_file(container.db, output))
        document = await run_export(container.db, images_dir=None)
        if images := count_image_refs(document):
            log.warning(
                f"{images} image(s) are referenced but not written; use -o FILE to get them"
            )
        return dumps_catalog(document)
    finally:
        await container.close()


async def webhook_command(settings: Settings, action: str, *, drop_pending: bool = False) -> str:
    """`tgshop webhook set|info|delete` against the configured Bot API; returns what to print.

    ``set`` registers ``TGSHOP_PUBLIC_URL/telegram/webhook`` with the secret and the update
    types the bot handles. Raises ValueError naming the missing variable.
    """
    from tgshop.bot.factory import build_bot, build_dispatcher

    telegram = settings.telegram
    if telegram.bot_token is None:
        raise ValueError("TGSHOP_BOT_TOKEN is not set")
    container = build_container(settings)
    bot = build_bot(telegram)
    try:
        if action == "set":
            if not telegram.public_url:
                raise ValueError("TGSHOP_PUBLIC_URL is not set (where Telegram should deliver)")
            if telegram.webhook_secret is None:
                raise ValueError("TGSHOP_WEBHOOK_SECRET is not set")
            url = f"{telegram.public_url}{WEBHOOK_PATH}"
            allowed = build_dispatcher(container).resolve_used_update_types()
            await bot.set_webhook(
                url,
                secret_token=telegram.webhook_secret.get_secret_value(),
                allowed_updates=allowed,
                drop_pending_updates=drop_pending,
            )
            return f"webhook set: {url} (updates: {', '.join(allowed)})"
        if action == "delete":
            await bot.delete_webhook(drop_pending_updates=drop_pending)
            return "webhook deleted" + (" and pending updates dropped" if drop_pending else "")
        info = await bot.get_webhook_info()
        lines = [
            f"url: {info.url or '(none: the bot is not on a webhook)'}",
            f"pending updates: {info.pending_update_count}",
        ]
        if info.max_connections:
            lines.append(f"max connections: {info.max_connections}")
        if info.allowed_updates:
            lines.append(f"allowed updates: {', '.join(info.allowed_updates)}")
        if info.last_error_message:
            lines.append(f"last error: {info.last_error_message} ({info.last_error_date})")
        return "\n".join(lines)
    finally:
        await bot.session.close()
        await container.close()
