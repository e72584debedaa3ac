"""Secrets never reach a log line, whatever the format and whoever logs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog

from tgshop.config import AppSettings, Settings
from tgshop.logging import REDACTED, configure_logging, redact_secrets, redact_text, reset_logging

BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
TOKEN_TAIL = BOT_TOKEN.split(":")[1]


def redact(**event: Any) -> dict[str, Any]:
    return redact_secrets(None, "info", dict(event))


@pytest.mark.parametrize(
    "key",
    [
        "token",
        "bot_token",
        "webhook_secret",
        "password",
        "db_passwd",
        "Authorization",
        "api_key",
        "X-Api-Key",
        "cookie",
        "init_data",
        "initData",
        "X-Telegram-Bot-Api-Secret-Token",
    ],
)
def test_values_of_credential_keys_are_masked(key: str) -> None:
    assert redact(**{key: "hunter2"})[key] == REDACTED


def test_credential_keys_are_masked_at_any_depth() -> None:
    event = redact(
        request={"headers": {"Authorization": "Bearer abc", "Accept": "json"}},
        items=[{"secret": "s1"}, ("password", "p")],
    )
    assert event["request"] == {"headers": {"Authorization": REDACTED, "Accept": "json"}}
    assert event["items"][0] == {"secret": REDACTED}
    assert "p" in event["items"][1]  # a tuple is data, not a key/value pair


def test_innocent_values_are_kept() -> None:
    event = redact(event="order placed", order_id=42, total=9.9, paid=True, note=None)
    assert event == {
        "event": "order placed",
        "order_id": 42,
        "total": 9.9,
        "paid": True,
        "note": None,
    }


@pytest.mark.parametrize(
    "text",
    [
        BOT_TOKEN,
        f"https://api.telegram.org/bot{BOT_TOKEN}/sendMessage",
        f"token was {BOT_TOKEN}.",
        f"a list [{BOT_TOKEN!r}]",
    ],
)
def test_bot_tokens_are_masked_anywhere_in_text(text: str) -> None:
    redacted = redact_text(text)
    assert TOKEN_TAIL not in redacted
    assert f"123456789:{REDACTED}" in redacted  # the bot id stays, for debugging


def test_url_passwords_are_masked() -> None:
    text = "cannot connect to postgresql+asyncpg://shop:s3cr3t-pw@db:5432/shop"
    assert redact_text(text) == (
        f"cannot connect to postgresql+asyncpg://shop:{REDACTED}@db:5432/shop"
    )
    assert redact_text("redis://:pw@cache:6379/0") == f"redis://:{REDACTED}@cache:6379/0"


def test_text_without_secrets_is_untouched() -> None:
    for text in ("12:30 at http://example.com:8080/x", "ratio 3:4", "order A-1001"):
        assert redact_text(text) == text


def test_objects_are_scanned_as_they_would_be_printed() -> None:
    error = ValueError(f"bad url https://api.telegram.org/bot{BOT_TOKEN}/getMe")
    assert TOKEN_TAIL not in redact(error=error)["error"]


AppSettingsFactory = Callable[..., AppSettings]


@pytest.fixture
def app_settings(make_settings: Callable[..., Settings]) -> AppSettingsFactory:
    """AppSettings from a clean environment (a developer's TGSHOP_* variables stay out)."""
    return lambda **fields: make_settings(app=fields).app


@pytest.fixture
def capture() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    root_level = logging.getLogger().level
    yield stream
    reset_logging()
    logging.getLogger().setLevel(root_level)


@pytest.mark.parametrize("log_format", ["json", "console"])
def test_no_format_lets_a_token_through_even_in_a_traceback(
    capture: io.StringIO, app_settings: AppSettingsFactory, log_format: str
) -> None:
    stream = capture
    configure_logging(app_settings(log_format=log_format), stream=stream)
    log = structlog.get_logger("tgshop.test")
    try:
        raise RuntimeError(f"POST https://api.telegram.org/bot{BOT_TOKEN}/sendMessage: 502")
    except RuntimeError:
        log.exception("send failed", token=BOT_TOKEN)
        logging.getLogger("aiogram.dispatcher").exception("stdlib too: %s", BOT_TOKEN)
    output = stream.getvalue()
    assert "send failed" in output
    assert "stdlib too" in output
    assert "Traceback" in output
    assert TOKEN_TAIL not in output


def test_json_in_production_and_console_in_development(
    capture: io.StringIO,
    app_settings: AppSettingsFactory,
) -> None:
    stream = capture
    configure_logging(app_settings(env="production"), stream=stream)
    structlog.get_logger("tgshop.test").info("hello", n=1)
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["event"] == "hello"
    assert line["n"] == 1
    assert line["level"] == "info"
    assert line["logger"] == "tgshop.test"

    configure_logging(app_settings(env="development"), stream=stream)
    structlog.get_logger("tgshop.test").info("hello again", n=2)
    last = stream.getvalue().splitlines()[-1]
    assert "hello again" in last
    assert "n=2" in last
    assert not last.startswith("{")


def test_json_lines_keep_every_kind_of_value(
    capture: io.StringIO, app_settings: AppSettingsFactory
) -> None:
    """Whatever a line carries stays one line of JSON: numbers beyond 64 bits (a Stars
    payload id, say), non-string keys, nested values, text that is not ASCII."""
    configure_logging(app_settings(log_format="json"), stream=capture)
    huge = 2**70 + 1
    structlog.get_logger("tgshop.test").info(
        "mixed", huge=huge, by_id={7: "seven"}, nested={"list": [1, 2.5, None]}, text="чай ☕"
    )
    line = json.loads(capture.getvalue().splitlines()[-1])
    assert line["huge"] == huge
    assert line["by_id"] == {"7": "seven"}
    assert line["nested"] == {"list": [1, 2.5, None]}
    assert line["text"] == "чай ☕"


def test_scalars_stay_scalars_and_text_is_still_scanned() -> None:
    event = redact(status=200, took=1.5, ok=True, nothing=None, path=f"/bot{BOT_TOKEN}/x")
    assert event["status"] == 200 and event["took"] == 1.5
    assert event["ok"] is True and event["nothing"] is None
    assert TOKEN_TAIL not in event["path"]


def test_level_filters_structlog_and_stdlib(
    capture: io.StringIO, app_settings: AppSettingsFactory
) -> None:
    stream = capture
    configure_logging(app_settings(log_level="WARNING", log_format="json"), stream=stream)
    structlog.get_logger("tgshop.test").info("quiet")
    logging.getLogger("uvicorn.error").info("quiet too")
    structlog.get_logger("tgshop.test").warning("loud")
    events = [json.loads(line)["event"] for line in stream.getvalue().splitlines()]
    assert events == ["loud"]


def test_reconfiguring_does_not_duplicate_lines(
    capture: io.StringIO, app_settings: AppSettingsFactory
) -> None:
    stream = capture
    for _ in range(3):
        configure_logging(app_settings(log_format="json"), stream=stream)
    structlog.get_logger("tgshop.test").info("once")
    assert len(stream.getvalue().splitlines()) == 1
