"""Test or live, per gateway, switched by staff at runtime.

Rules:
- a gateway runs in ``test`` or ``live`` mode; the mode is recorded on every payment, and
  that payment is always read back, re-checked and refunded with the credentials of its own
  mode, whatever the gateway's mode is now;
- a gateway configured with both a test and a live set of credentials (CryptoBot, YooKassa,
  cards through Telegram) can be switched; it starts in ``TGSHOP_PAYMENTS_MODE``. One with a
  single set runs in the mode that set serves and cannot be switched. Telegram Stars have
  no credentials: they run in ``TGSHOP_PAYMENTS_MODE`` (``test`` when the bot lives on
  Telegram's test environment). The wallet and manual payments are always ``live``;
- the switch lives in the ``settings`` table under ``payments.mode.<gateway>`` with who
  changed it and when; every change writes an ``audit_log`` row; switching to the mode it
  is in changes nothing (a double tap is harmless);
- each process caches a gateway's mode for ``cache_seconds`` (2 by default): a switch made
  through this process is seen here at once, other replicas see it within that time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import select

from tgshop.config import PaymentsSettings
from tgshop.db.engine import Database
from tgshop.db.models import AuditLog, Setting
from tgshop.db.upsert import locked_setting
from tgshop.domain.errors import InvalidRequest
from tgshop.domain.payments import Gateway
from tgshop.services.ports import Clock, PaymentProvider

MODES = ("test", "live")
# Gateways staff may see and switch, in the order the admin screen lists them.
SWITCHABLE = (Gateway.TELEGRAM, Gateway.YOOKASSA, Gateway.CRYPTOBOT)


class Providers:
    """The external provider adapters that are configured, one per gateway and mode."""

    def __init__(self, adapters: Mapping[tuple[str, str], PaymentProvider] | None = None) -> None:
        self._adapters = dict(adapters or {})

    @classmethod
    def of(cls, mode: str, by_gateway: Mapping[str, PaymentProvider]) -> Providers:
        """Adapters that all serve one mode."""
        return cls({(gateway, mode): adapter for gateway, adapter in by_gateway.items()})

    def get(self, gateway: str, mode: str) -> PaymentProvider | None:
        return self._adapters.get((gateway, mode))

    def modes(self, gateway: str) -> frozenset[str]:
        return frozenset(mode for (name, mode) in self._adapters if name == gateway)

    def gateways(self) -> frozenset[str]:
        return frozenset(name for (name, _) in self._adapters)

    def of_gateway(self, gateway: str) -> list[tuple[str, PaymentProvider]]:
        """(mode, adapter) of one gateway, test first."""
        return sorted(
            (
                (mode, adapter)
                for (name, mode), adapter in self._adapters.items()
                if name == gateway
            ),
            key=lambda pair: pair[0] != "test",
        )

    def values(self) -> list[PaymentProvider]:
        return list(self._adapters.values())

    def __bool__(self) -> bool:
        return bool(self._adapters)


@dataclass(frozen=True)
class GatewayMode:
    gateway: Gateway
    mode: str
    switchable: bool


class GatewayModes:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        default: str,
        available: Mapping[Gateway, Iterable[str]],
        *,
        cache_seconds: float = 2.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        """``available``: the modes each gateway has credentials for (see module)."""
        if default not in MODES:
            raise ValueError(f"mode must be test or live, not {default!r}")
        self._db = db
        self._clock = clock
        self._default = default
        self._available = {gateway: frozenset(modes) for gateway, modes in available.items()}
        self._cache_seconds = cache_seconds
        self._timer = timer
        self._cached: dict[Gateway, tuple[str, float]] = {}

    def switchable(self, gateway: Gateway) -> bool:
        return len(self._available.get(gateway, ())) == 2

    def _fixed(self, gateway: Gateway) -> str:
        """The mode of a gateway that cannot be switched."""
        if gateway in (Gateway.WALLET, Gateway.MANUAL):
            return "live"
        modes = self._available.get(gateway)
        return next(iter(modes)) if modes and len(modes) == 1 else self._default

    async def mode(self, gateway: Gateway) -> str:
        """The mode a new payment through ``gateway`` is made in now (cached)."""
        if not self.switchable(gateway):
            return self._fixed(gateway)
        now = self._timer()
        cached = self._cached.get(gateway)
        if cached is not None and cached[1] > now:
            return cached[0]
        async with self._db.read() as session:
            value = await session.scalar(select(Setting.value).where(Setting.key == _key(gateway)))
        mode = _mode(value, self._default)
        self._cached[gateway] = (mode, now + self._cache_seconds)
        return mode

    async def all(self) -> list[GatewayMode]:
        """Every configured gateway staff may look at, with its mode now (not cached)."""
        self._cached.clear()
        return [
            GatewayMode(gateway, await self.mode(gateway), self.switchable(gateway))
            for gateway in SWITCHABLE
            if self._available.get(gateway)
        ]

    async def switch(self, gateway: Gateway, mode: str, *, by_user_id: int | None) -> str:
        """Put ``gateway`` in ``mode`` as ``by_user_id`` (see module). Raises InvalidRequest
        for a gateway that lacks the credentials of one of the modes."""
        if mode not in MODES:
            raise InvalidRequest(f"mode must be test or live, not {mode!r}")
        if not self.switchable(gateway):
            raise InvalidRequest(
                f"{gateway.value} has credentials for one mode only: set both to switch it"
            )
        now = self._clock.now()
        key = _key(gateway)
        async with self._db.transaction() as session:
            row = await locked_setting(session, key, {"mode": self._default}, now)
            before = _mode(row.value, self._default)
            if before != mode:
                row.value = {"mode": mode}
                row.updated_at = now
                row.updated_by = by_user_id
                session.add(
                    AuditLog(
                        actor_user_id=by_user_id,
                        action="payments.mode",
                        entity="setting",
                        entity_id=key,
                        data={"gateway": gateway.value, "from": before, "to": mode},
                        created_at=now,
                    )
                )
        self._cached[gateway] = (mode, self._timer() + self._cache_seconds)
        return mode


def _key(gateway: Gateway) -> str:
    return f"payments.mode.{gateway.value}"


def _mode(value: object, default: str) -> str:
    mode = value.get("mode") if isinstance(value, dict) else None
    return mode if mode in MODES else default


def as_providers(
    providers: Providers | Mapping[str, PaymentProvider] | None, mode: str
) -> Providers:
    """A registry from what a caller has: one already, adapters by gateway (all serving
    ``mode``), or none."""
    if isinstance(providers, Providers):
        return providers
    return Providers.of(mode, providers or {})


def available_modes(settings: PaymentsSettings, providers: Providers) -> dict[Gateway, set[str]]:
    """The modes each gateway has credentials for (Stars: the configured mode)."""
    return {
        Gateway.STARS: {settings.mode} if settings.stars_enabled else set(),
        Gateway.TELEGRAM: set(settings.card_tokens()),
        Gateway.CRYPTOBOT: set(providers.modes(Gateway.CRYPTOBOT.value)),
        Gateway.YOOKASSA: set(providers.modes(Gateway.YOOKASSA.value)),
    }
