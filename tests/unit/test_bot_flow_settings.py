"""The bot's flow settings: idle limit, rate limit syntax, Redis key prefix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tgshop.config import ConfigError, Settings


def test_defaults(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings()
    assert settings.telegram.fsm_idle_minutes == 60
    assert settings.telegram.bot_rate_limit == "60/minute;10/second"
    assert settings.redis.key_prefix == "tgshop"


def test_read_from_the_environment_file(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        'TGSHOP_FSM_IDLE_MINUTES=15\nTGSHOP_BOT_RATE_LIMIT="100/hour; 3/second"\n'
        "TGSHOP_REDIS_KEY_PREFIX=shop-2\nTGSHOP_SHOP_SUPPORT_CONTACT=@help\n"
    )
    settings = make_settings()
    assert settings.telegram.fsm_idle_minutes == 15
    assert settings.telegram.bot_rate_limit == "100/hour; 3/second"
    assert settings.redis.key_prefix == "shop-2"
    assert settings.shop.support_contact == "@help"


def test_an_empty_rate_limit_turns_throttling_off(make_settings: Callable[..., Settings]) -> None:
    assert make_settings(telegram={"bot_rate_limit": " "}).telegram.bot_rate_limit == ""


@pytest.mark.parametrize(
    ("section", "values", "variable", "message"),
    [
        ("telegram", {"bot_rate_limit": "fast please"}, "TGSHOP_BOT_RATE_LIMIT", "60/minute"),
        ("telegram", {"fsm_idle_minutes": 0}, "TGSHOP_FSM_IDLE_MINUTES", "greater than"),
        ("redis", {"key_prefix": "has space"}, "TGSHOP_REDIS_KEY_PREFIX", "pattern"),
    ],
)
def test_bad_values_name_their_variable(
    make_settings: Callable[..., Settings],
    section: str,
    values: dict[str, object],
    variable: str,
    message: str,
) -> None:
    with pytest.raises(ConfigError) as error:
        make_settings(**{section: values})
    [problem] = error.value.problems
    assert problem.variable == variable
    assert message in problem.message
