"""Change notices between the processes of one shop (see
:mod:`tgshop.services.change_notices`): over Redis pub/sub when Redis is configured, else over
PostgreSQL's LISTEN/NOTIFY when the database is PostgreSQL. A SQLite shop is one process and
needs no relay.

A notice is the text ``"<process> <topic> <key>"``, so a process skips its own (it ran its
handlers already). Whenever a relay (re)subscribes, notices may have been missed while it
was away, so every memory is told to forget everything; that includes redis-py subscribing
again by itself after a dropped connection, which Redis confirms with a ``subscribe``
message like the first time.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from tgshop.db.engine import Database
    from tgshop.services.change_notices import ChangeNotices

log = structlog.get_logger(__name__)

MAX_RETRY_SECONDS = 30.0
PG_CHANNEL = "tgshop_changes"
PG_CHECK_SECONDS = 30.0  # how often a quiet LISTEN connection is tested


class ListeningRelay:
    """What both relays share: the notice text, and what to do on (re)subscribing."""

    name = ""

    def __init__(self, notices: ChangeNotices, channel: str, retry_seconds: float) -> None:
        self._notices = notices
        self.channel = channel
        self._origin = secrets.token_hex(8)
        self._retry_seconds = retry_seconds
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
                self.subscribed.clear()
                log.warning(
                    "lost the change notices channel; memories expire on their own until "
                    "it is back",
                    relay=self.name,
                    retry_in=delay,
                    reason=f"{type(exc).__name__}: {exc}",
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY_SECONDS)
            else:
                delay = self._retry_seconds

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
            async for message in pubsub.listen():
                kind = message.get("type")
                if kind == "subscribe":
                    self._subscribed()
                elif kind == "message":
                    data = message.get("data")
                    text = data.decode(errors="replace") if isinstance(data, bytes) else str(data)
                    self._received(text)
        raise ConnectionError("the subscription ended")


class PostgresNoticeRelay(ListeningRelay):
    """NOTIFY goes through the shop's pool; LISTEN holds one connection of its own, outside
    the pool, tested every 30 s when quiet (a silently dead link shows no error)."""

    name = "postgresql"

    def __init__(
        self,
        db: Database,
        url: str,
        notices: ChangeNotices,
        *,
        connect_timeout: float = 10.0,
        retry_seconds: float = 1.0,
    ) -> None:
        super().__init__(notices, PG_CHANNEL, retry_seconds)
        self._db = db
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
        self._connect_timeout = connect_timeout
        self.listener_pid: int | None = None

    async def publish(self, topic: str, key: int) -> None:
        async with self._db.core_transaction() as connection:
            await connection.execute(select(func.pg_notify(self.channel, self._text(topic, key))))

    async def _listen_once(self) -> None:
        import asyncpg  # type: ignore[import-untyped]

        connection = await asyncpg.connect(self._dsn, timeout=self._connect_timeout)
        try:
            lost = asyncio.Event()
            connection.add_termination_listener(lambda _: lost.set())
            await connection.add_listener(self.channel, self._on_notify)
            self.listener_pid = connection.get_server_pid()
            self._subscribed()
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), PG_CHECK_SECONDS)
                    break
                await connection.fetchval("SELECT 1", timeout=self._connect_timeout)
            raise ConnectionError("the LISTEN connection was closed")
        finally:
            self.listener_pid = None
            if not connection.is_closed():
                connection.terminate()

    def _on_notify(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self._received(payload)
