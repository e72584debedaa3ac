from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tgshop.config import _SECTIONS, ConfigError, Settings, _variable_name, settings_problems

ROOT = Path(__file__).resolve().parents[2]
GOOD_SECRET = "s3cr3t-" + "x" * 20
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def _production(make: Callable[..., Settings], **telegram: Any) -> Settings:
    values = {
        "bot_token": TOKEN,
        "public_url": "https://shop.test",
        "webhook_secret": GOOD_SECRET,
        "manager_chat_id": -100,
    } | telegram
    return make(app={"env": "production"}, telegram=values)


def test_defaults_are_an_embedded_development_shop(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    assert settings.database.is_sqlite
    assert settings.redis.url is None
    assert settings.shop.currency == "USD"
    assert settings_problems(settings) == []


def test_environment_and_dotenv_are_read(
    make_settings: Callable[..., Settings], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".env").write_text("TGSHOP_SHOP_CURRENCY=eur\nTGSHOP_STAFF_IDS=1, 2,3\n")
    monkeypatch.setenv("TGSHOP_DATABASE_URL", "postgresql://u:p@db/shop")
    settings = make_settings()
    assert settings.shop.currency == "EUR"
    assert settings.telegram.staff_ids == [1, 2, 3]
    assert settings.database.url.get_secret_value() == "postgresql+asyncpg://u:p@db/shop"
    assert "u:p" not in repr(settings)


def test_every_problem_is_reported_at_once_with_the_variable(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TGSHOP_DATABASE_URL", "mysql://x")
    monkeypatch.setenv("TGSHOP_REDIS_URL", "http://cache")
    monkeypatch.setenv("TGSHOP_SHOP_CURRENCY", "DOGE")
    monkeypatch.setenv("TGSHOP_STAFF_IDS", "1,bob")
    monkeypatch.setenv("TGSHOP_BOT_TOKEN", "not-a-token")
    monkeypatch.setenv("TGSHOP_WORKER_CONCURRENCY", "0")
    with pytest.raises(ConfigError) as error:
        make_settings()
    variables = {p.variable for p in error.value.problems}
    assert variables == {
        "TGSHOP_DATABASE_URL",
        "TGSHOP_REDIS_URL",
        "TGSHOP_SHOP_CURRENCY",
        "TGSHOP_STAFF_IDS",
        "TGSHOP_BOT_TOKEN",
        "TGSHOP_WORKER_CONCURRENCY",
    }
    text = str(error.value)
    assert "unknown currency 'DOGE'" in text and "'bob' is not a Telegram user id" in text
    assert "not-a-token" not in text  # secrets are not echoed back


def test_production_accepts_a_complete_configuration(
    make_settings: Callable[..., Settings],
) -> None:
    assert settings_problems(_production(make_settings)) == []


@pytest.mark.parametrize(
    ("telegram", "variable", "message"),
    [
        ({"webhook_secret": None}, "TGSHOP_WEBHOOK_SECRET", "required"),
        ({"webhook_secret": "change-me"}, "TGSHOP_WEBHOOK_SECRET", "example"),
        ({"webhook_secret": "my-example-secret-123456"}, "TGSHOP_WEBHOOK_SECRET", "example"),
        ({"webhook_secret": "short"}, "TGSHOP_WEBHOOK_SECRET", "shorter than 16"),
        ({"public_url": "http://shop.test"}, "TGSHOP_PUBLIC_URL", "https"),
        ({"public_url": None}, "TGSHOP_PUBLIC_URL", "required"),
        ({"bot_token": None}, "TGSHOP_BOT_TOKEN", "required"),
        ({"manager_chat_id": None}, "TGSHOP_MANAGER_CHAT_ID", "required"),
    ],
)
def test_production_refuses_unsafe_settings(
    make_settings: Callable[..., Settings], telegram: dict[str, Any], variable: str, message: str
) -> None:
    problems = settings_problems(_production(make_settings, **telegram))
    assert [p.variable for p in problems] == [variable]
    assert message in str(problems[0])


def test_webhook_secret_charset(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ConfigError, match="TGSHOP_WEBHOOK_SECRET"):
        make_settings(telegram={"webhook_secret": "has spaces and ü"})


def test_docs_and_example_list_every_variable() -> None:
    docs = (ROOT / "docs" / "configuration.md").read_text()
    example = (ROOT / ".env.example").read_text()
    for cls in _SECTIONS.values():
        for field in cls.model_fields:
            name = _variable_name(cls, field)
            assert f"`{name}`" in docs, f"{name} missing from docs/configuration.md"
            assert re.search(rf"^#? ?{name}=", example, re.M), f"{name} missing from .env.example"


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("123456789:replace-with-the-token-from-BotFather", "example placeholder"),
        ("123456789:short", "must look like"),
        ("bot:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "must look like"),
        ("123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PAL sa", "must look like"),
    ],
)
def test_bot_token_shape_and_placeholders(
    make_settings: Callable[..., Settings], token: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        make_settings(telegram={"bot_token": token})
    assert token not in str(error.value)


def test_payment_provider_settings(make_settings: Callable[..., Settings]) -> None:
    half = make_settings(payments={"yookassa_shop_id": "4242"})
    assert [p.variable for p in settings_problems(half)] == ["TGSHOP_PAYMENTS_YOOKASSA_SECRET_KEY"]
    nowhere_to_return = make_settings(
        payments={"yookassa_shop_id": "4242", "yookassa_secret_key": "test_x"}
    )
    assert [p.variable for p in settings_problems(nowhere_to_return)] == [
        "TGSHOP_PAYMENTS_YOOKASSA_RETURN_URL"
    ]
    ready = make_settings(
        telegram={"public_url": "https://shop.example.org"},
        payments={
            "yookassa_shop_id": "4242",
            "yookassa_secret_key": "test_x",
            "cryptobot_token": "1:x",
            "cryptobot_assets": "usdt, ton",
            "yookassa_allowed_ips": "185.71.76.0/27, 77.75.156.11",
        },
    )
    assert settings_problems(ready) == []
    assert ready.payments.cryptobot_assets == ["USDT", "TON"]
    assert ready.payments.cryptobot_url_for("test") == "https://testnet-pay.crypt.bot/api"
    assert ready.payments.cryptobot_url_for("live") == "https://pay.crypt.bot/api"
    # One set of credentials serves the configured mode; with a test set, the plain set is live.
    assert set(ready.payments.cryptobot_tokens()) == {"test"}
    assert set(ready.payments.yookassa_credentials()) == {"test"}
    live = make_settings(payments={"mode": "live", "card_provider_token": "1:LIVE:x"})
    assert set(live.payments.card_tokens()) == {"live"}
    both = make_settings(
        payments={
            "cryptobot_token": "1:live",
            "cryptobot_test_token": "2:test",
            "card_test_provider_token": "3:TEST:x",
            "yookassa_shop_id": "1",
            "yookassa_secret_key": "live_x",
            "yookassa_test_shop_id": "2",
            "yookassa_test_secret_key": "test_x",
            "yookassa_return_url": "https://t.me/shop_bot",
        }
    )
    tokens = both.payments.cryptobot_tokens()
    assert {mode: t.get_secret_value() for mode, t in tokens.items()} == {
        "test": "2:test",
        "live": "1:live",
    }
    assert set(both.payments.card_tokens()) == {"test"}  # no live card token given
    assert {m: shop for m, (shop, _) in both.payments.yookassa_credentials().items()} == {
        "test": "2",
        "live": "1",
    }
    half_test = make_settings(payments={"yookassa_test_shop_id": "2"})
    assert [p.variable for p in settings_problems(half_test)] == [
        "TGSHOP_PAYMENTS_YOOKASSA_TEST_SECRET_KEY"
    ]
    with pytest.raises(ConfigError) as bad:
        make_settings(
            payments={"yookassa_allowed_ips": "185.71.76.0/27,somewhere", "cryptobot_assets": ""}
        )
    text = str(bad.value)
    assert "TGSHOP_PAYMENTS_YOOKASSA_ALLOWED_IPS" in text and "'somewhere'" in text
    assert "TGSHOP_PAYMENTS_CRYPTOBOT_ASSETS" in text
