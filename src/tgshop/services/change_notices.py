"""Telling every process that something it may remember has changed.

Some reads are remembered for a few seconds to spare the database (the customer behind an
update, a customer's cart). A change must not wait for that memory to run out on every
replica: the customer who adds an item in the bot, served by one replica, opens the Mini App
served by another and expects to see it.

Rules:
- a service that remembers reads registers a handler for a topic (``"user"``, ``"cart"``)
  with :meth:`ChangeNotices.on`; the handler forgets the key it is given (a user id), or
  everything when the key is ``None``;
- the service that changed something calls :meth:`ChangeNotices.announce` *after* the
  transaction has committed: this process's handlers run at once, then the notice goes to
  every other process through the relay (Redis pub/sub when ``TGSHOP_REDIS_URL`` is set,
  else PostgreSQL's LISTEN/NOTIFY; a SQLite shop without Redis has no relay, so another
  process, such as ``tgshop catalog import``, is heard of only when the memories expire);
- sending waits at most ``PUBLISH_SECONDS`` and is not abandoned when the caller is
  cancelled (the change is committed: the others must hear of it);
- a notice another process relayed runs this process's handlers (:meth:`deliver`);
- while the relay is not connected notices may be missed, so when it (re)connects every
  handler forgets everything (:meth:`forget_everything`); a notice that cannot be published
  in time is logged, not raised, because the change is already committed. Either way each
  memory's own time limit bounds how long another process may show the old state;
- handlers only forget, so running one twice, or for a change that did not happen, costs a
  database read and nothing else.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable
from typing import Protocol

import structlog

log = structlog.get_logger(__name__)

Forget = Callable[[int | None], None]
PUBLISH_SECONDS = 1.0

# The topics, and whose id a notice carries.
USER_TOPIC = "user"  # a customer's details (language, blocked): the user id
CART_TOPIC = "cart"  # a customer's cart lines: the user id
CATALOG_TOPIC = "catalog"  # products, prices or stock, by a catalog import: 0


class NoticeRelay(Protocol):
    """Carries a notice to the other processes of this shop."""

    async def publish(self, topic: str, key: int) -> None: ...


class ChangeNotices:
    def __init__(self) -> None:
        self._handlers: defaultdict[str, list[Forget]] = defaultdict(list)
        self.relay: NoticeRelay | None = None

    def on(self, topic: str, forget: Forget) -> None:
        """Run ``forget(key)`` whenever ``topic`` changes, here or in another process."""
        self._handlers[topic].append(forget)

    async def announce(self, topic: str, key: int) -> None:
        """``key`` of ``topic`` changed and the change is committed: forget it everywhere."""
        self.deliver(topic, key)
        if self.relay is None:
            return
        try:
            sending = asyncio.wait_for(self.relay.publish(topic, key), PUBLISH_SECONDS)
            await asyncio.shield(sending)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "could not tell the other processes about a change; they may show the old "
                "state until their memory of it expires",
                topic=topic,
                key=key,
                reason=f"{type(exc).__name__}: {exc}",
            )

    def deliver(self, topic: str, key: int | None) -> None:
        """Run this process's handlers for a notice (an unknown topic has none)."""
        for forget in self._handlers.get(topic, ()):
            forget(key)

    def forget_everything(self) -> None:
        """Every handler forgets everything (notices may have been missed)."""
        for handlers in self._handlers.values():
            for forget in handlers:
                forget(None)
