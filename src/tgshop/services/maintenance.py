"""Maintenance mode: a runtime switch staff flip from /admin, no restart needed.

Rules:
- it lives in the ``settings`` table under the key ``maintenance`` as ``{"enabled": bool}``
  with who changed it and when; off when the row does not exist;
- every change writes an ``audit_log`` row (``maintenance.on`` / ``maintenance.off``); setting
  it to what it already is changes nothing and writes no row (a double tap is harmless);
- while it is on, customers who are not staff get the shop's notice and nothing else (the bot
  middleware enforces that; staff pass, so they can turn it off again);
- it is read on every update, so each process caches it for ``cache_seconds`` (2 by default):
  a change made through this process is seen here at once, other processes (replicas,
  workers) see it within ``cache_seconds``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tgshop.db.engine import Database
from tgshop.db.models import AuditLog, Setting
from tgshop.db.upsert import locked_setting
from tgshop.services.ports import Clock

MAINTENANCE_KEY = "maintenance"


@dataclass(frozen=True)
class MaintenanceState:
    enabled: bool
    updated_by: int | None = None  # users.id of the staff member who changed it last
    updated_at: datetime | None = None


def _enabled(value: object) -> bool:
    return isinstance(value, dict) and value.get("enabled") is True


class MaintenanceService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        cache_seconds: float = 2.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._clock = clock
        self._cache_seconds = cache_seconds
        self._timer = timer
        self._cached: tuple[bool, float] | None = None

    async def is_on(self) -> bool:
        """Whether the shop is closed to customers (cached; see module rules)."""
        now = self._timer()
        if self._cached is not None and self._cached[1] > now:
            return self._cached[0]
        enabled = (await self.state()).enabled
        self._cached = (enabled, now + self._cache_seconds)
        return enabled

    async def state(self) -> MaintenanceState:
        """The stored switch, read from the database (not cached)."""
        async with self._db.read() as session:
            row = await session.get(Setting, MAINTENANCE_KEY)
            if row is None:
                return MaintenanceState(enabled=False)
            return MaintenanceState(_enabled(row.value), row.updated_by, row.updated_at)

    async def set(self, enabled: bool, *, by_user_id: int | None) -> MaintenanceState:
        """Turn maintenance on or off as ``by_user_id`` (see module rules)."""
        now = self._clock.now()
        async with self._db.transaction() as session:
            row = await locked_setting(session, MAINTENANCE_KEY, {"enabled": False}, now)
            if _enabled(row.value) != enabled:
                row.value = {"enabled": enabled}
                row.updated_at = now
                row.updated_by = by_user_id
                session.add(
                    AuditLog(
                        actor_user_id=by_user_id,
                        action="maintenance.on" if enabled else "maintenance.off",
                        entity="setting",
                        entity_id=MAINTENANCE_KEY,
                        data={"enabled": enabled},
                        created_at=now,
                    )
                )
            await session.flush()
            state = MaintenanceState(_enabled(row.value), row.updated_by, row.updated_at)
        self._cached = (state.enabled, self._timer() + self._cache_seconds)
        return state
