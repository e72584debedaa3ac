"""initData the sandbox signs is what Telegram would sign: a maintained validator accepts it
for the right bot and refuses it for another bot or when stale."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import init_data_py
import pytest
from init_data_py import errors

from tgshop.sandbox.state import Account
from tgshop.sandbox.webapp import launch_url, sign_init_data

TOKEN = "4242424242:AAFsandboxTestTokenThatLooksReal_123"
OTHER = "4242424243:AAFanotherBotTokenThatLooksReal_999"
ALICE = Account(100_000_001, "Алиса", "Smith", "alice", "ru")


def test_signed_init_data_validates_for_its_bot() -> None:
    data = init_data_py.validate_by_hash(sign_init_data(TOKEN, ALICE), TOKEN)
    assert data.user is not None
    assert (data.user.id, data.user.first_name, data.user.language_code) == (
        ALICE.id,
        "Алиса",
        "ru",
    )


def test_other_bot_and_stale_data_are_refused() -> None:
    with pytest.raises(errors.HashInvalidError):
        init_data_py.validate_by_hash(sign_init_data(TOKEN, ALICE), OTHER)
    old = sign_init_data(TOKEN, ALICE, auth_date=int(time.time()) - 7200)
    with pytest.raises(errors.ExpiredError):
        init_data_py.validate_by_hash(old, TOKEN, expires_in=3600)


def test_launch_url_carries_init_data_in_the_fragment() -> None:
    init_data = sign_init_data(TOKEN, ALICE)
    url = launch_url("http://127.0.0.1:8080/app", init_data)
    fragment = parse_qs(urlsplit(url).fragment)
    assert fragment["tgWebAppData"] == [init_data]
    assert init_data_py.validate_by_hash(fragment["tgWebAppData"][0], TOKEN)
