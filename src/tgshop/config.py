"""Settings, one class per concern, all read from ``TGSHOP_*`` variables and ``.env``.

``load_settings()`` is the only factory: it collects every problem of every class at once
(so ``tgshop check`` can show them all) and raises :class:`ConfigError` listing them.
Semantic rules that span fields (production safety) live in :func:`settings_problems`.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from tgshop.domain.catalog import ProductKind
from tgshop.domain.refunds import DEFAULT_WINDOW_DAYS, parse_windows

_T = TypeVar("_T")


def _comma_separated(value: Any) -> Any:
    """``"a, b,"`` from the environment → ``["a", "b"]``; anything else as it is."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _rate_limit(value: str) -> str:
    """A rate limit in the ``limits`` syntax (``60/minute;10/second``), or empty."""
    value = value.strip()
    if value:
        from limits import parse_many

        try:
            parse_many(value)
        except ValueError as exc:
            raise ValueError(
                f"{value!r} is not a rate limit like 60/minute;10/second ({exc})"
            ) from None
    return value


DEFAULT_SQLITE_URL = "sqlite+aiosqlite:///./var/tgshop.db"
DEFAULT_TELEGRAM_API_URL = "https://api.telegram.org"
# Secrets that ship in docs or examples: a deployment that still uses one is not secret.
KNOWN_EXAMPLE_SECRETS = frozenset(
    {"", "change-me", "changeme", "secret", "example", "your-secret-here", "replace-me"}
)


# The secret half of a bot token: 30+ URL-safe characters (35 in tokens issued today).
_TOKEN_SECRET = re.compile(r"[A-Za-z0-9_-]{30,64}")


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


def _config(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix, env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )


class AppSettings(BaseSettings):
    """Process-wide switches."""

    model_config = _config("TGSHOP_")

    env: Environment = Environment.DEVELOPMENT
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "console"] = "auto"
    opentelemetry: bool = Field(
        default=False,
        description=(
            "let FastAPI's built-in OpenTelemetry instrumentation report HTTP requests to the "
            "providers an OpenTelemetry SDK set up in this process; off, it does not even "
            "look for them (a cost on every request)"
        ),
    )

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION


class DatabaseSettings(BaseSettings):
    """The system of record: SQLite (embedded default) or PostgreSQL."""

    model_config = _config("TGSHOP_DATABASE_")

    url: SecretStr = SecretStr(DEFAULT_SQLITE_URL)
    pool_size: int = Field(default=10, ge=1, le=200)
    max_overflow: int = Field(default=10, ge=0, le=200)
    pool_timeout: float = Field(default=10.0, gt=0, description="seconds to wait for a connection")
    pool_pre_ping: bool = True
    pool_ping_after_idle: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description="seconds a pooled connection may sit unused before it is tested (0 = always)",
    )
    connect_timeout: float = Field(default=10.0, gt=0, description="seconds")
    statement_timeout_ms: int = Field(default=15_000, ge=0, description="PostgreSQL only; 0 = off")
    sqlite_busy_timeout_ms: int = Field(default=15_000, ge=0)
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _known_driver(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value()
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            url = "postgresql+asyncpg://" + url.split("://", 1)[1]
        if not (url.startswith("sqlite+aiosqlite://") or url.startswith("postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// (or postgresql://)"
            )
        return SecretStr(url)

    @property
    def is_sqlite(self) -> bool:
        return self.url.get_secret_value().startswith("sqlite")


class RedisSettings(BaseSettings):
    """Optional Redis for FSM state, rate limits, de-duplication and caches."""

    model_config = _config("TGSHOP_REDIS_")

    url: SecretStr | None = None
    key_prefix: str = Field(
        default="tgshop",
        pattern=r"^[A-Za-z0-9_.:-]{1,64}$",
        description="prefix of every key we write (several shops may share one Redis)",
    )

    @field_validator("url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        scheme = urlsplit(value.get_secret_value()).scheme
        if scheme not in {"redis", "rediss"}:
            raise ValueError("must start with redis:// or rediss://")
        return value


class TelegramSettings(BaseSettings):
    """How we reach Telegram (or the sandbox) and how Telegram reaches us."""

    model_config = _config("TGSHOP_")

    bot_token: SecretStr | None = None
    telegram_api_url: str = DEFAULT_TELEGRAM_API_URL
    public_url: str | None = Field(
        default=None, description="public HTTPS base URL of this service (webhook, Mini App)"
    )
    webhook_secret: SecretStr | None = None
    manager_chat_id: int | None = None
    staff_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    customer_cache_seconds: float = Field(
        default=60,
        ge=0,
        le=3600,
        description="a returning person with unchanged details skips the database this long",
    )
    fsm_idle_minutes: int = Field(
        default=60,
        ge=1,
        le=60 * 24 * 7,
        description="a conversation flow left silent this long is put away (start again)",
    )
    # Sustained: 1 update/s, what Telegram lets a bot send to one chat anyway; burst: 10/s,
    # so an album (up to 10 photos, 10 updates at once) gets through.
    bot_rate_limit: str = Field(
        default="60/minute;10/second",
        description="updates one person may send, as limits strings; empty = no limit",
    )

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        bot_id, sep, rest = value.get_secret_value().partition(":")
        if not sep or not bot_id.isdigit() or not _TOKEN_SECRET.fullmatch(rest):
            raise ValueError("must look like 123456789:AA... (the token @BotFather gave you)")
        if any(word in rest.lower() for word in ("replace", "example", "changeme", "your")):
            raise ValueError("is still the example placeholder; use the token @BotFather gave you")
        return value

    @field_validator("telegram_api_url", "public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError("must be an absolute http(s):// URL")
        return value.rstrip("/")

    @field_validator("webhook_secret")
    @classmethod
    def _secret_charset(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        raw = value.get_secret_value()
        # Telegram accepts 1-256 characters of A-Z, a-z, 0-9, _ and -.
        if raw and (
            len(raw) > 256 or not all(c.isascii() and (c.isalnum() or c in "_-") for c in raw)
        ):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("bot_rate_limit")
    @classmethod
    def _rate_limit_syntax(cls, value: str) -> str:
        return _rate_limit(value)

    @field_validator("staff_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            items = [item.strip() for item in value.split(",") if item.strip()]
            for item in items:
                if not item.lstrip("-").isdigit():
                    raise ValueError(
                        f"{item!r} is not a Telegram user id (comma-separated integers)"
                    )
            return [int(item) for item in items]
        return value

    @property
    def bot_id(self) -> int | None:
        if self.bot_token is None:
            return None
        return int(self.bot_token.get_secret_value().split(":", 1)[0])


class ShopSettings(BaseSettings):
    """What the shop sells in and how orders behave."""

    model_config = _config("TGSHOP_SHOP_")

    name: str = Field(default="tgshop", min_length=1, max_length=64)
    currency: str = "USD"
    order_ttl_minutes: int = Field(default=30, ge=1, le=60 * 24 * 30)
    order_number_prefix: str = Field(default="A", max_length=8, pattern=r"^[A-Z0-9]*$")
    max_cart_lines: int = Field(default=50, ge=1, le=500)
    max_line_quantity: int = Field(default=999, ge=1, le=100_000)
    support_contact: str = Field(
        default="",
        max_length=200,
        description="how customers reach a person (e.g. @shop_support or an email); plain text",
    )
    phone_region: str | None = Field(
        default=None,
        description="region for phone numbers typed without +country code (e.g. RU, GB)",
    )
    maintenance_notice: str = Field(
        default="",
        max_length=1000,
        description="shown to customers while maintenance mode is on; empty = the default text",
    )
    catalog_cache_seconds: float = Field(
        default=5,
        ge=0,
        le=3600,
        description="catalog reads for browsing may be served from memory this long; 0 = off",
    )
    cart_cache_seconds: float = Field(
        default=60,
        ge=0,
        le=3600,
        description=(
            "which items a customer's cart holds may be served from memory this long (a change "
            "made through the shop is seen at once); 0 = off"
        ),
    )

    @field_validator("currency")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        from tgshop.domain.money import currency_exponent

        code = value.upper()
        currency_exponent(code)  # raises ValueError for an unknown code
        return code

    @field_validator("phone_region")
    @classmethod
    def _phone_region(cls, value: str | None) -> str | None:
        if not value:
            return None
        import phonenumbers

        region = value.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"{value!r} is not a region phonenumbers knows (e.g. GB, RU, US)")
        return region


class PaymentsSettings(BaseSettings):
    """How customers pay, and what happens to money that arrives too late."""

    model_config = _config("TGSHOP_PAYMENTS_")

    mode: Literal["test", "live"] = Field(
        default="test",
        description=(
            "the mode every gateway starts in (recorded on every payment); staff switch a "
            "gateway that has both test and live credentials in /admin"
        ),
    )
    stars_enabled: bool = Field(default=True, description="offer payment in Telegram Stars")
    stars_rate: Decimal | None = Field(
        default=None,
        gt=0,
        le=1_000_000,
        description=(
            "Stars per one unit of the shop currency, for items without their own Stars price "
            "(rounded up); unset = only items with a Stars price can be paid in Stars"
        ),
    )
    wallet_enabled: bool = Field(default=True, description="let customers pay from their balance")
    late_money: Literal["credit", "refund"] = Field(
        default="credit",
        description=(
            "money for an order that expired, was cancelled or was already paid: credit it to "
            "the customer's balance or refund it through its gateway"
        ),
    )
    topup_amounts: Annotated[list[Decimal], NoDecode] = Field(
        default=[Decimal(5), Decimal(10), Decimal(25)],
        description="balance top-up amounts offered in the bot, in the shop currency",
    )
    topup_max: Decimal = Field(
        default=Decimal(1000), gt=0, description="the largest single top-up, in the shop currency"
    )
    card_provider_token: SecretStr | None = Field(
        default=None,
        description=(
            "Telegram Payments provider token (from @BotFather > Payments) for cards in the "
            "shop currency; unset = no card payments through Telegram"
        ),
    )
    card_test_provider_token: SecretStr | None = Field(
        default=None,
        description=(
            "a test provider token for cards; with it, CARD_PROVIDER_TOKEN is the live one "
            "and staff can switch cards between test and live"
        ),
    )
    cryptobot_token: SecretStr | None = Field(
        default=None,
        description="Crypto Pay API token (from @CryptoBot or @CryptoTestnetBot); unset = off",
    )
    cryptobot_test_token: SecretStr | None = Field(
        default=None,
        description=(
            "a @CryptoTestnetBot token; with it, CRYPTOBOT_TOKEN is the live (mainnet) one and "
            "staff can switch CryptoBot between test and live"
        ),
    )
    cryptobot_url: str | None = Field(
        default=None,
        description=(
            "Crypto Pay API base URL; unset = https://testnet-pay.crypt.bot/api in test mode, "
            "https://pay.crypt.bot/api in live mode"
        ),
    )
    cryptobot_assets: Annotated[list[str], NoDecode] = Field(
        default=["USDT", "TON", "BTC"],
        description="crypto assets a customer may pay a CryptoBot invoice in, comma-separated",
    )
    yookassa_shop_id: str | None = Field(
        default=None, description="YooKassa shopId; with the secret key, turns YooKassa on"
    )
    yookassa_secret_key: SecretStr | None = Field(default=None, description="YooKassa secret key")
    yookassa_test_shop_id: str | None = Field(
        default=None, description="a YooKassa test shop's shopId (with its secret key)"
    )
    yookassa_test_secret_key: SecretStr | None = Field(
        default=None,
        description=(
            "a YooKassa test shop's secret key; with the test shopId, the plain YooKassa "
            "credentials are the live ones and staff can switch YooKassa"
        ),
    )
    yookassa_url: str = Field(
        default="https://api.yookassa.ru/v3", description="YooKassa API base URL"
    )
    yookassa_return_url: str | None = Field(
        default=None,
        description=("where YooKassa sends the customer after paying; unset = the bot's t.me link"),
    )
    yookassa_allowed_ips: Annotated[list[str], NoDecode] = Field(
        default=[],
        description=(
            "addresses (CIDR) YooKassa notifications may come from, comma-separated; empty = "
            "any (a notification is never trusted anyway: the payment is re-read from the API)"
        ),
    )
    pending_check_minutes: int = Field(
        default=10,
        ge=1,
        le=1440,
        description=(
            "a CryptoBot or YooKassa payment still pending after this long is re-checked with "
            "its provider (the webhook that never came)"
        ),
    )

    refund_windows: Annotated[dict[ProductKind, int], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_WINDOW_DAYS),
        description=(
            "days after payment a customer may ask for a refund, per product kind, e.g. "
            "physical=14,service=7,subscription=3,digital=0 (0 = not on request; kinds not "
            "named keep these defaults)"
        ),
    )

    @field_validator("refund_windows", mode="before")
    @classmethod
    def _windows(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_windows(value)
        return value

    @field_validator("cryptobot_assets", "yookassa_allowed_ips", "topup_amounts", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        return _comma_separated(value)

    @field_validator("cryptobot_assets")
    @classmethod
    def _assets(cls, value: list[str]) -> list[str]:
        assets = [asset.upper() for asset in value]
        bad = [a for a in assets if not re.fullmatch(r"[A-Z0-9]{2,10}", a)]
        if bad:
            raise ValueError(f"not an asset code: {', '.join(bad)}")
        if not assets:
            raise ValueError("name at least one asset, e.g. USDT")
        return assets

    @field_validator("topup_amounts")
    @classmethod
    def _topups(cls, value: list[Decimal]) -> list[Decimal]:
        if any(amount <= 0 for amount in value):
            raise ValueError("every top-up amount must be more than zero")
        return sorted(set(value))

    @field_validator("yookassa_allowed_ips")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for item in value:
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"not an address or network: {item!r}") from None
        return value

    @field_validator("cryptobot_url", "yookassa_url", "yookassa_return_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"not an http(s) URL: {value!r}")
        return value.rstrip("/")

    @property
    def yookassa_enabled(self) -> bool:
        return bool(self.yookassa_credentials())

    def _by_mode(self, plain: _T | None, test: _T | None) -> dict[str, _T]:
        """Credentials per mode: with a test set, the plain set is the live one; without,
        the plain set serves the mode TGSHOP_PAYMENTS_MODE names."""
        if test is not None:
            return {"test": test, **({"live": plain} if plain is not None else {})}
        return {self.mode: plain} if plain is not None else {}

    def card_tokens(self) -> dict[str, SecretStr]:
        return self._by_mode(self.card_provider_token, self.card_test_provider_token)

    def cryptobot_tokens(self) -> dict[str, SecretStr]:
        return self._by_mode(self.cryptobot_token, self.cryptobot_test_token)

    def yookassa_credentials(self) -> dict[str, tuple[str, SecretStr]]:
        """(shopId, secret key) per mode."""

        def pair(shop_id: str | None, key: SecretStr | None) -> tuple[str, SecretStr] | None:
            return (shop_id, key) if shop_id and key is not None else None

        return self._by_mode(
            pair(self.yookassa_shop_id, self.yookassa_secret_key),
            pair(self.yookassa_test_shop_id, self.yookassa_test_secret_key),
        )

    def cryptobot_url_for(self, mode: str) -> str:
        if self.cryptobot_url:
            return self.cryptobot_url
        if mode == "live":
            return "https://pay.crypt.bot/api"
        return "https://testnet-pay.crypt.bot/api"


class WorkerSettings(BaseSettings):
    """The outbox worker."""

    model_config = _config("TGSHOP_WORKER_")

    concurrency: int = Field(default=4, ge=1, le=64)
    poll_interval: float = Field(default=1.0, gt=0, le=60)
    max_attempts: int = Field(default=8, ge=1, le=100)
    backoff_base: float = Field(default=2.0, gt=0, description="seconds before the first retry")
    backoff_max: float = Field(default=3600.0, gt=0)
    lease_seconds: float = Field(
        default=300.0, ge=30, description="a claim older than this is presumed crashed"
    )
    shutdown_grace: float = Field(default=10.0, ge=0)


class ApiSettings(BaseSettings):
    """The Mini App API (``/api/v1``): who may call it and from where."""

    model_config = _config("TGSHOP_API_")

    docs: bool = Field(
        default=True,
        description="serve the API reference at /docs and the OpenAPI schema at /openapi.json",
    )
    init_data_max_age: int = Field(
        default=3600,
        ge=60,
        le=7 * 24 * 3600,
        description="seconds a Mini App launch (its initData auth_date) stays valid",
    )
    init_data_check: Literal["token", "signature"] = Field(
        default="token",
        description=(
            "how Mini App launch data is checked: token = HMAC with TGSHOP_BOT_TOKEN; "
            "signature = Telegram's Ed25519 signature (third-party: no token needed)"
        ),
    )
    init_data_public_key: str | None = Field(
        default=None,
        description="hex Ed25519 key for signature checks; empty = Telegram's production key",
    )
    bot_id: int | None = Field(
        default=None,
        ge=1,
        description="the bot's id for signature checks when TGSHOP_BOT_TOKEN is not set",
    )
    rate_limit_ip: str = Field(
        default="300/minute;30/second",
        description="requests one address may make to /api/v1 (limits syntax); empty = none",
    )
    rate_limit_user: str = Field(
        default="120/minute;15/second",
        description="requests one signed-in customer may make (limits syntax); empty = none",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default=[],
        description=(
            "origins (scheme://host[:port]) of a storefront hosted elsewhere that may call the "
            "API from a browser, comma-separated; empty = same origin only"
        ),
    )

    @field_validator("rate_limit_ip", "rate_limit_user")
    @classmethod
    def _limits(cls, value: str) -> str:
        return _rate_limit(value)

    @field_validator("init_data_public_key")
    @classmethod
    def _public_key(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not re.fullmatch(r"[0-9a-fA-F]{64}", value.strip()):
            raise ValueError("must be 64 hex digits (a raw Ed25519 public key)")
        return value.strip().lower()

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins_list(cls, value: Any) -> Any:
        return _comma_separated(value)

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            parts = urlsplit(origin)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
                raise ValueError(f"not an origin (scheme://host[:port]): {origin!r}")
        return [origin.rstrip("/") for origin in value]


@dataclass(frozen=True)
class Settings:
    app: AppSettings
    database: DatabaseSettings
    redis: RedisSettings
    telegram: TelegramSettings
    shop: ShopSettings
    worker: WorkerSettings
    payments: PaymentsSettings = field(default_factory=PaymentsSettings)
    api: ApiSettings = field(default_factory=ApiSettings)


@dataclass(frozen=True)
class Problem:
    variable: str
    message: str
    hint: str = ""

    def __str__(self) -> str:
        return f"{self.variable}: {self.message}" + (f" (hint: {self.hint})" if self.hint else "")


class ConfigError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


_SECTIONS: dict[str, type[BaseSettings]] = {
    "app": AppSettings,
    "database": DatabaseSettings,
    "redis": RedisSettings,
    "telegram": TelegramSettings,
    "shop": ShopSettings,
    "worker": WorkerSettings,
    "payments": PaymentsSettings,
    "api": ApiSettings,
}

_HINTS = {
    "TGSHOP_DATABASE_URL": "e.g. sqlite+aiosqlite:///./var/tgshop.db or postgresql+asyncpg://user@host/db",
    "TGSHOP_REDIS_URL": "e.g. redis://127.0.0.1:6379/0; leave unset to run without Redis",
    "TGSHOP_BOT_TOKEN": "ask @BotFather for a token",
    "TGSHOP_PUBLIC_URL": "the https:// address where Telegram reaches this service",
    "TGSHOP_WEBHOOK_SECRET": (
        "generate one: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
    ),
    "TGSHOP_SHOP_CURRENCY": "an ISO 4217 code such as USD, EUR, RUB",
    "TGSHOP_STAFF_IDS": "comma-separated Telegram user ids, e.g. 111,222",
}


def _variable_name(section: type[BaseSettings], field: str) -> str:
    prefix = str(section.model_config.get("env_prefix", ""))
    return (prefix + field).upper()


def load_settings(**overrides: dict[str, Any]) -> Settings:
    """Build every settings class; raise ConfigError naming every bad variable at once."""
    built: dict[str, BaseSettings] = {}
    problems: list[Problem] = []
    for name, cls in _SECTIONS.items():
        try:
            built[name] = cls(**overrides.get(name, {}))
        except ValidationError as exc:
            for error in exc.errors():
                field = str(error["loc"][0]) if error["loc"] else name
                variable = _variable_name(cls, field)
                problems.append(Problem(variable, error["msg"], _HINTS.get(variable, "")))
    if problems:
        raise ConfigError(problems)
    return Settings(**built)  # type: ignore[arg-type]


def settings_problems(settings: Settings) -> list[Problem]:
    """Rules across fields. In production a missing or example secret, a missing token or a
    non-HTTPS public URL is a problem that stops the service from starting."""
    problems: list[Problem] = []
    tg = settings.telegram
    if settings.app.is_production:
        secret = tg.webhook_secret.get_secret_value() if tg.webhook_secret else ""
        if not secret:
            problems.append(
                Problem(
                    "TGSHOP_WEBHOOK_SECRET",
                    "is required in production",
                    _HINTS["TGSHOP_WEBHOOK_SECRET"],
                )
            )
        elif (
            secret.lower() in KNOWN_EXAMPLE_SECRETS
            or "example" in secret.lower()
            or len(secret) < 16
        ):
            problems.append(
                Problem(
                    "TGSHOP_WEBHOOK_SECRET",
                    "is a default/example value or shorter than 16 characters",
                    _HINTS["TGSHOP_WEBHOOK_SECRET"],
                )
            )
        if tg.bot_token is None:
            problems.append(
                Problem("TGSHOP_BOT_TOKEN", "is required in production", _HINTS["TGSHOP_BOT_TOKEN"])
            )
        if not tg.public_url:
            problems.append(
                Problem(
                    "TGSHOP_PUBLIC_URL", "is required in production", _HINTS["TGSHOP_PUBLIC_URL"]
                )
            )
        elif not tg.public_url.startswith("https://"):
            problems.append(
                Problem(
                    "TGSHOP_PUBLIC_URL",
                    "must be https:// in production",
                    "Telegram only delivers webhooks over HTTPS",
                )
            )
        if tg.manager_chat_id is None:
            problems.append(
                Problem(
                    "TGSHOP_MANAGER_CHAT_ID",
                    "is required in production",
                    "the chat (or group) id where new orders are announced",
                )
            )
    pay = settings.payments
    if bool(pay.yookassa_test_shop_id) != bool(pay.yookassa_test_secret_key):
        missing = "TEST_SHOP_ID" if not pay.yookassa_test_shop_id else "TEST_SECRET_KEY"
        problems.append(
            Problem(
                f"TGSHOP_PAYMENTS_YOOKASSA_{missing}",
                "is missing: a YooKassa test shop needs both its shopId and its secret key",
            )
        )
    if bool(pay.yookassa_shop_id) != bool(pay.yookassa_secret_key):
        missing = "SHOP_ID" if not pay.yookassa_shop_id else "SECRET_KEY"
        problems.append(
            Problem(
                f"TGSHOP_PAYMENTS_YOOKASSA_{missing}",
                "is needed too: YooKassa takes the shop id and the secret key together",
                "both are in the YooKassa dashboard under Integration > API keys",
            )
        )
    if pay.yookassa_enabled and not (pay.yookassa_return_url or tg.public_url):
        problems.append(
            Problem(
                "TGSHOP_PAYMENTS_YOOKASSA_RETURN_URL",
                "is needed: YooKassa must know where to send the customer after paying",
                "set it, or set TGSHOP_PUBLIC_URL to use this service's /payments/return page",
            )
        )
    return problems
