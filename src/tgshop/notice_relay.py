"""Change notices between the processes of one shop (see
:mod:`tgshop.services.change_notices`): over Redis pub/sub when Redis is configured, else over
PostgreSQL's LISTEN/NOTIFY when the database is PostgreSQL. A SQLite shop is one process and
needs no relay.

A notice is the text ``"<process> <topic> <key>"``, so a process skips its own (it ran its
handlers already). Whenever a relay (re)subscribes, notices may have been missed while it
was away, so every memory is told to forget everything and "listening for change notices"
is logged again; that includes redis-py subscribing again by itself after a dropped
connection, which Redis confirms with a ``subscribe`` message like the first time.

A quiet channel is tested every 30 s (a PING through Redis, a ``SELECT 1`` on the LISTEN
connection): a link that died without a word (an idle timeout on a NAT or a load balancer)
would otherwise deliver nothing, forever, without an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import func, select

from tgshop.db.engine import unpooled_postgres_engine

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from tgshop.config import DatabaseSettings
    from tgshop.db.engine import Database
    from tgshop.services.change_notices import ChangeNotices

log = structlog.get_logger(__name__)

MAX_RETRY_SECONDS = 30.0
PG_CHANNEL = "tgshop_changes"
QUIET_CHECK_SECONDS = 30.0  # how often a quiet channel is tested


class ListeningRelay:
    """What both relays share: the notice text, and what to do on (re)subscribing."""

    name = ""

    def __init__(
        self,
        notices: ChangeNotices,
        channel: str,
        retry_seconds: float,
        quiet_check_seconds: float = QUIET_CHECK_SECONDS,
    ) -> None:
        self._notices = notices
        self.channel = channel
        self._origin = secrets.token_hex(8)
        self._retry_seconds = retry_seconds
        self._quiet_check_seconds = quiet_check_seconds
        self.subscribed = asyncio.Event()

    def _text(self, topic: str, key: int) -> str:
        return f"{self._origin} {topic} {key}"

    def _subscribed(self) -> None:
        self._notices.forget_everything()
        self.subscribed.set()
        log.info("listening for change notices", relay=self.name, channel=self.channel)

    def _received(self, text: str) -> None:
        origin, _, rest = text.partition(" ")
        topic, _, key = rest.partition(" ")
        if not origin or not topic or not key.isdigit():
            log.warning("ignored a change notice that is not ours", notice=text[:200])
            return
        if origin != self._origin:
            self._notices.deliver(topic, int(key))

    async def listen(self) -> None:
        """Deliver the other processes' notices until cancelled; after a failure, wait and
        subscribe again (1 s, doubling up to 30 s)."""
        delay = self._retry_seconds
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.subscribed.is_set():  # it worked for a while: start the backoff over
                    delay = self._retry_seconds
                self.subscribed.clear()
                log.warning(
                    "no change notices channel; memories expire on their own until it is back",
                    relay=self.name,
                    retry_in=delay,
                    reason=f"{type(exc).__name__}: {exc}",
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_SECONDS)

    async def publish(self, topic: str, key: int) -> None:
        raise NotImplementedError

    async def _listen_once(self) -> None:
        """Subscribe, deliver until the connection fails (raise), never return quietly."""
        raise NotImplementedError


class RedisNoticeRelay(ListeningRelay):
    name = "redis"

    def __init__(
        self, redis: Redis, prefix: str, notices: ChangeNotices, *, retry_seconds: float = 1.0
    ) -> None:
        super().__init__(notices, f"{prefix}changes", retry_seconds)
        self._redis = redis

    async def publish(self, topic: str, key: int) -> None:
        await self._redis.publish(self.channel, self._text(topic, key))

    async def _listen_once(self) -> None:
        async with self._redis.pubsub() as pubsub:
            await pubsub.subscribe(self.channel)
            pinged = False
            while True:
                message = await pubsub.get_message(timeout=self._quiet_check_seconds)
                if message is None:  # quiet: is anyone there?
                    if pinged:
                        raise ConnectionError("Redis did not answer a PING on the channel")
                    await pubsub.ping()
                    pinged = True
                    continue
                pinged = False
                kind = message.get("type")
                if kind == "subscribe":
                    self._subscribed()
                elif kind == "message":
                    data = message.get("data")
                    text = data.decode(errors="replace") if isinstance(data, bytes) else str(data)
                    self._received(text)


class PostgresNoticeRelay(ListeningRelay):
    """NOTIFY goes through the shop's pool; LISTEN holds one connection of its own, outside
    the pool (opened with the pool's URL and settings), tested when quiet."""

    name = "postgresql"

    def __init__(
        self,
        db: Database,
        settings: DatabaseSettings,
        notices: ChangeNotices,
        *,
        retry_seconds: float = 1.0,
    ) -> None:
        super().__init__(notices, PG_CHANNEL, retry_seconds)
        self._db = db
        self._settings = settings
        self.listener_pid: int | None = None

    async def publish(self, topic: str, key: int) -> None:
        async with self._db.core_transaction() as connection:
            await connection.execute(select(func.pg_notify(self.channel, self._text(topic, key))))

    async def _listen_once(self) -> None:
        engine = unpooled_postgres_engine(self._settings)
        try:
            async with engine.connect() as pooled:
                try:
                    await self._listen_on((await pooled.get_raw_connection()).driver_connection)
                finally:
                    await pooled.invalidate()  # never reused: it has a LISTEN on it
        finally:
            self.listener_pid = None
            await engine.dispose()

    async def _listen_on(self, connection: Any) -> None:
        """Deliver notices until the asyncpg ``connection`` closes or stops answering."""
        lost = asyncio.Event()
        connection.add_termination_listener(lambda _: lost.set())
        await connection.add_listener(self.channel, self._on_notify)
        self.listener_pid = connection.get_server_pid()
        self._subscribed()
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self._quiet_check_seconds)
                break
            await connection.fetchval("SELECT 1", timeout=self._settings.connect_timeout)
        raise ConnectionError("the LISTEN connection was closed")

    def _on_notify(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self._received(payload)
