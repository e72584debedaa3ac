"""Where the bot keeps conversation (FSM) state: per person per chat (aiogram's default
``USER_IN_CHAT``), in Redis when one is configured, in the database otherwise. Both survive a
restart and are shared by every replica.

Idle expiry: a flow (any state) left silent for ``TGSHOP_FSM_IDLE_MINUTES`` is over. Each
storage records the last time the person did anything in the flow, by our clock (tests move
it by hand), and :meth:`IdleAwareStorage.touch` either refreshes that time or — when the
flow had been silent too long — forgets its state and data and says so. Storage that nobody
touches is dropped after :func:`retention` (Redis TTLs; the worker's periodic ``purge`` in
the database), long enough that a person coming back the next day still hears "that took a
while" rather than nothing.

Speed: every get and set is one statement (one Redis round trip); on PostgreSQL a single
statement runs in autocommit, which saves the BEGIN and COMMIT round trips a transaction
would add to every button press.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from aiogram.exceptions import DataNotDictLikeError
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StateType, StorageKey
from aiogram.fsm.storage.redis import RedisStorage
from sqlalchemy import CursorResult, Table, and_, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from tgshop.db.engine import Database
from tgshop.db.models import FsmState
from tgshop.services.ports import Clock

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from tgshop.app import Container

_TABLE = cast(Table, FsmState.__table__)
_KEY_COLUMNS = ("bot_id", "chat_id", "user_id", "thread_id", "business_connection_id", "destiny")


def retention(idle: timedelta) -> timedelta:
    """How long untouched FSM storage is kept: four idle limits, and at least a day."""
    return max(idle * 4, timedelta(days=1))


def _state_name(state: StateType) -> str | None:
    return state.state if isinstance(state, State) else state


class IdleAwareStorage(BaseStorage):
    """An aiogram storage that also knows when a flow was last active."""

    @abstractmethod
    async def touch(self, key: StorageKey) -> bool:
        """Record activity in the flow at ``key``. If it had been silent longer than the idle
        limit, forget its state and data instead and return True (the flow is over)."""


class DatabaseStorage(IdleAwareStorage):
    """FSM state and data in the ``fsm_states`` table (one row per StorageKey)."""

    def __init__(self, db: Database, clock: Clock, idle: timedelta) -> None:
        self._db = db
        self._clock = clock
        self.idle = idle
        # A single statement needs no transaction; PostgreSQL then skips BEGIN/COMMIT.
        # SQLite keeps the Database's units of work (its writers queue on one lock).
        self._autocommit = (
            db.engine.execution_options(isolation_level="AUTOCOMMIT")
            if db.dialect == "postgresql"
            else None
        )

    @asynccontextmanager
    async def _connection(self, *, write: bool) -> AsyncIterator[AsyncConnection]:
        if self._autocommit is not None:
            async with self._autocommit.connect() as connection:
                yield connection
            return
        unit = self._db.core_transaction() if write else self._db.core_read()
        async with unit as connection:
            yield connection

    @staticmethod
    def _columns(key: StorageKey) -> dict[str, Any]:
        # Primary key columns cannot be NULL: a key part aiogram leaves unset is 0 / "".
        return {
            "bot_id": key.bot_id,
            "chat_id": key.chat_id,
            "user_id": key.user_id,
            "thread_id": key.thread_id or 0,
            "business_connection_id": key.business_connection_id or "",
            "destiny": key.destiny,
        }

    @classmethod
    def _where(cls, key: StorageKey) -> ColumnElement[bool]:
        return and_(*(_TABLE.c[name] == value for name, value in cls._columns(key).items()))

    # Every update in a chat reads its state: that statement is built once.
    _KEY = and_(*(_TABLE.c[name] == bindparam(name) for name in _KEY_COLUMNS))
    _GET_STATE = select(_TABLE.c.state).where(_KEY)
    _GET_DATA = select(_TABLE.c.data).where(_KEY)

    async def _upsert(self, key: StorageKey, field: str, value: Any) -> None:
        now = self._clock.now()
        async with self._connection(write=True) as connection:
            insert = (postgresql if self._db.dialect == "postgresql" else sqlite).insert(_TABLE)
            row = {"state": None, "data": {}, field: value, "updated_at": now}
            stmt = insert.values(**self._columns(key), **row)
            stmt = stmt.on_conflict_do_update(
                index_elements=list(self._columns(key)),
                set_={field: getattr(stmt.excluded, field), "updated_at": now},
            )
            await connection.execute(stmt)

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        await self._upsert(key, "state", _state_name(state))

    async def get_state(self, key: StorageKey) -> str | None:
        async with self._connection(write=False) as connection:
            result = await connection.execute(self._GET_STATE, self._columns(key))
            return cast(str | None, result.scalar_one_or_none())

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not isinstance(data, dict):
            raise DataNotDictLikeError(
                f"Data must be a dict or dict-like object, got {type(data).__name__}"
            )
        await self._upsert(key, "data", dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with self._connection(write=False) as connection:
            result = await connection.execute(self._GET_DATA, self._columns(key))
            return dict(result.scalar_one_or_none() or {})

    async def touch(self, key: StorageKey) -> bool:
        now = self._clock.now()
        cutoff = now - self.idle
        async with self._connection(write=True) as connection:
            fresh = cast(
                CursorResult[Any],
                await connection.execute(
                    update(_TABLE)
                    .where(self._where(key), _TABLE.c.updated_at >= cutoff)
                    .values(updated_at=now)
                ),
            )
        if fresh.rowcount:
            return False
        # Rare: the flow went silent (or was cleared meanwhile; then nothing is deleted).
        async with self._connection(write=True) as connection:
            expired = cast(
                CursorResult[Any],
                await connection.execute(
                    delete(_TABLE).where(self._where(key), _TABLE.c.updated_at < cutoff)
                ),
            )
        return expired.rowcount == 1

    async def purge(self) -> int:
        """Delete conversations nobody touched for :func:`retention` (worker, hourly)."""
        cutoff = self._clock.now() - retention(self.idle)
        async with self._db.transaction() as session:
            result = cast(
                CursorResult[Any],
                await session.execute(delete(_TABLE).where(_TABLE.c.updated_at < cutoff)),
            )
            return int(result.rowcount)

    async def close(self) -> None:
        """The container owns the database."""


# Atomic check-and-touch: one round trip, and two updates of one person cannot disagree.
# KEYS: touched, state, data. ARGV: now (epoch seconds), idle seconds, TTL seconds.
_TOUCH_SCRIPT = """
local last = redis.call('GET', KEYS[1])
if last and tonumber(ARGV[1]) - tonumber(last) > tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
  return 1
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[3])
return 0
"""


class RedisFsmStorage(RedisStorage, IdleAwareStorage):
    """aiogram's RedisStorage (keys ``<prefix>:<bot>:<chat>:<user>:<destiny>:state|data``)
    plus a ``:touched`` key holding the last activity by our clock. Every key expires
    after :func:`retention`, refreshed on each touch."""

    def __init__(self, redis: Redis, clock: Clock, idle: timedelta, prefix: str) -> None:
        ttl = int(retention(idle).total_seconds())
        super().__init__(
            redis,
            key_builder=DefaultKeyBuilder(
                prefix=prefix,
                with_bot_id=True,
                with_business_connection_id=True,
                with_destiny=True,
            ),
            state_ttl=ttl,
            data_ttl=ttl,
        )
        self._clock = clock
        self.idle = idle
        self._ttl = ttl
        self._touch = redis.register_script(_TOUCH_SCRIPT)

    def _touched_key(self, key: StorageKey) -> str:
        return f"{self.key_builder.build(key)}:touched"

    def _now(self) -> str:
        return f"{self._clock.now().timestamp():.6f}"

    async def set_state(self, key: StorageKey, state: StateType = None) -> None:
        name = _state_name(state)
        state_key = self.key_builder.build(key, "state")
        async with self.redis.pipeline(transaction=False) as pipe:
            if name is None:
                pipe.delete(state_key)
            else:
                pipe.set(state_key, name, ex=self._ttl)
            pipe.set(self._touched_key(key), self._now(), ex=self._ttl)
            await pipe.execute()

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        if not isinstance(data, dict):
            raise DataNotDictLikeError(
                f"Data must be a dict or dict-like object, got {type(data).__name__}"
            )
        data_key = self.key_builder.build(key, "data")
        async with self.redis.pipeline(transaction=False) as pipe:
            if data:
                pipe.set(data_key, self.json_dumps(data), ex=self._ttl)
            else:
                pipe.delete(data_key)
            pipe.set(self._touched_key(key), self._now(), ex=self._ttl)
            await pipe.execute()

    async def touch(self, key: StorageKey) -> bool:
        keys = [
            self._touched_key(key),
            self.key_builder.build(key, "state"),
            self.key_builder.build(key, "data"),
        ]
        args: list[str | float] = [self._now(), self.idle.total_seconds(), self._ttl]
        return bool(await self._touch(keys=keys, args=args))

    async def close(self) -> None:
        """The container owns the Redis client (de-duplication and rate limits share it);
        aiogram's RedisStorage would close it when polling stops."""


def build_fsm_storage(container: Container) -> IdleAwareStorage:
    """Redis when configured, the database otherwise (see module docs)."""
    idle = timedelta(minutes=container.settings.telegram.fsm_idle_minutes)
    if container.redis is not None:
        prefix = f"{container.settings.redis.key_prefix}:fsm"
        return RedisFsmStorage(container.redis, container.clock, idle, prefix)
    return DatabaseStorage(container.db, container.clock, idle)
