"""Where rate-limit counters live: Redis when configured (every replica shares them, on the
container's connection pool), process memory otherwise."""

from __future__ import annotations

from typing import TYPE_CHECKING

from limits.aio.storage import MemoryStorage, RedisStorage, Storage

if TYPE_CHECKING:
    from tgshop.app import Container


def limits_storage(container: Container, purpose: str) -> Storage:
    """Counters for ``purpose`` (a key prefix under TGSHOP_REDIS_KEY_PREFIX)."""
    settings = container.settings.redis
    if container.redis is None or settings.url is None:
        return MemoryStorage()
    return RedisStorage(
        "async+" + settings.url.get_secret_value(),
        implementation="redispy",
        key_prefix=f"{settings.key_prefix}:{purpose}",
        # The container's client pool: one set of connections, closed with the container.
        connection_pool=container.redis.connection_pool,  # type: ignore[arg-type]
    )
