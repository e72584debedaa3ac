"""Who is calling the Mini App API: Telegram's launch data (initData) in ``Authorization: tma
<initData>``.

Rules:
- initData is checked with init-data-py, by default against the bot token (HMAC-SHA256
  keyed with HMAC-SHA256("WebAppData", token)); data signed for another bot fails that check
  like a forgery does, and is refused the same way;
- with ``TGSHOP_API_INIT_DATA_CHECK=signature`` it is checked the third-party way instead:
  Telegram's Ed25519 ``signature`` over the data and the bot id, with Telegram's public key
  (or ``TGSHOP_API_INIT_DATA_PUBLIC_KEY``), so no token is needed: launch data without a
  signature (clients before Bot API 8.0) is refused as ``no_signature``;
- it is valid for ``TGSHOP_API_INIT_DATA_MAX_AGE`` seconds after its ``auth_date`` (1 hour by
  default), and one dated more than a minute ahead of our clock is refused too;
- every refusal is a 401 problem+json whose ``reason`` says why (``missing``, ``malformed``,
  ``bad_signature``, ``no_signature``, ``expired``, ``from_the_future``, ``no_user``,
  ``not_configured``), with
  ``WWW-Authenticate: tma``; a blocked customer gets 403;
- the caller becomes a customer exactly as in the bot (created or refreshed from the
  Telegram user in initData);
- the Mini App sends the same initData with every request while it is open: launch data
  that passed the check is remembered by its exact text (:class:`CheckedLaunches`, the last
  10,000), so a repeat costs a lookup instead of parsing and a signature check. Its time
  limit is checked again on every request, so it expires exactly when it would have.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from fastapi import Request
from init_data_py import errors as init_errors
from init_data_py import parse, strip_auth_header, validate_by_hash, validate_by_signature

from tgshop.api.dependencies import get_container
from tgshop.api.v1.rate_limits import limits_of
from tgshop.services.users import TelegramUserData, UserView

if TYPE_CHECKING:
    from tgshop.app import Container
    from tgshop.config import Settings

# How far ahead of our clock an auth_date may be (clocks drift a little).
CLOCK_SKEW = timedelta(seconds=60)


class Unauthorized(Exception):
    """The caller could not be identified; ``reason`` is a short code, ``detail`` words."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class Forbidden(Exception):
    """The caller is known and may not use the shop (a blocked customer)."""


@dataclass(frozen=True)
class Caller:
    customer: UserView
    query_id: str | None


@dataclass(frozen=True)
class Launch:
    """Launch data that passed the check: who, and when Telegram issued it."""

    user: TelegramUserData
    query_id: str | None
    issued_at: datetime


class CheckedLaunches:
    """Launch data that passed the check, by its exact text (the least recently used goes
    first). Safe to keep: the signature covers the whole text, and the settings it was
    checked against do not change while the process runs."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._entries: OrderedDict[str, Launch] = OrderedDict()

    def get(self, text: str) -> Launch | None:
        launch = self._entries.get(text)
        if launch is not None:
            self._entries.move_to_end(text)
        return launch

    def put(self, text: str, launch: Launch) -> None:
        self._entries[text] = launch
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)


async def authenticate(
    container: Container, authorization: str | None, checked: CheckedLaunches | None = None
) -> Caller:
    """The customer behind an ``Authorization: tma <initData>`` header (see module)."""
    if not authorization:
        raise Unauthorized("missing", "send Authorization: tma <initData from Telegram.WebApp>")
    now = container.clock.now()
    launch = checked.get(authorization) if checked is not None else None
    if launch is None:
        launch = check_launch(container.settings, authorization, now)
        if checked is not None:
            checked.put(authorization, launch)
    else:
        _check_time(launch.issued_at, container.settings.api.init_data_max_age, now)
    customer = await container.users.onboard(launch.user)
    if customer.is_blocked:
        raise Forbidden("this account is blocked in this shop")
    return Caller(customer, launch.query_id)


def _not_from_the_future(issued_at: datetime, now: datetime) -> None:
    if issued_at > now + CLOCK_SKEW:
        raise Unauthorized("from_the_future", "initData is dated in the future")


def _check_time(issued_at: datetime, max_age: int, now: datetime) -> None:
    """The same time limits init-data-py applies, for launch data checked before."""
    _not_from_the_future(issued_at, now)
    if max_age and now - issued_at > timedelta(seconds=max_age):
        raise Unauthorized("expired", "initData is too old: open the Mini App again from the bot")


def check_launch(settings: Settings, authorization: str, now: datetime) -> Launch:
    """Parse and check launch data: the signature, its age and that it names a person."""
    token = settings.telegram.bot_token
    by_signature = settings.api.init_data_check == "signature"
    bot_id = settings.api.bot_id or (int(token.get_secret_value().split(":")[0]) if token else None)
    if token is None and not (by_signature and bot_id):
        needed = "TGSHOP_API_BOT_ID or TGSHOP_BOT_TOKEN" if by_signature else "TGSHOP_BOT_TOKEN"
        raise Unauthorized("not_configured", f"{needed} is not set: nobody can sign in")
    try:
        data = parse(strip_auth_header(authorization))
    except init_errors.InvalidInitDataError as exc:
        raise Unauthorized("malformed", f"initData cannot be read: {exc}") from None
    _not_from_the_future(data.issued_at, now)
    max_age = settings.api.init_data_max_age
    try:
        if by_signature:
            assert bot_id is not None  # checked above
            validate_by_signature(
                data,
                bot_id,
                public_key=settings.api.init_data_public_key,
                expires_in=max_age,
                now=now,
            )
        else:
            assert token is not None  # checked above
            validate_by_hash(data, token.get_secret_value(), expires_in=max_age, now=now)
    except init_errors.ExpiredError:
        raise Unauthorized(
            "expired", "initData is too old: open the Mini App again from the bot"
        ) from None
    except init_errors.SignatureMissingError:
        raise Unauthorized(
            "no_signature", "initData has no Ed25519 signature (a Telegram client before 8.0)"
        ) from None
    except init_errors.InvalidInitDataError:
        raise Unauthorized(
            "bad_signature", "initData is not signed for this bot (forged, or another bot's)"
        ) from None
    user = data.user
    if user is None or user.is_bot:
        raise Unauthorized("no_user", "initData names no Telegram user")
    person = TelegramUserData(
        telegram_id=user.id,
        first_name=user.first_name or str(user.id),
        last_name=user.last_name,
        username=user.username,
        language_code=user.language_code,
    )
    return Launch(person, data.query_id, data.issued_at)


# How the API documents sign-in (an "Authorize" box in /docs). Routes do not declare it as a
# FastAPI dependency: they call signed_in() themselves, because resolving a dependency per
# request cost about a tenth of a cart read (docs/benchmarks.md).
TMA_SCHEME = {
    "type": "apiKey",
    "in": "header",
    "name": "Authorization",
    "description": (
        "`tma <initData>`: Telegram.WebApp.initData as the Mini App got it, e.g. "
        "`tma query_id=AAH...&user=%7B%22id%22%3A42...&auth_date=1700000000&hash=...`"
    ),
}
SIGNED_IN: dict[str, Any] = {"security": [{"tma": []}]}  # a route's ``openapi_extra``


async def signed_in(request: Request) -> Caller:
    """The caller of a route that needs one (see module), counted against their rate limit."""
    caller = await authenticate(
        get_container(request),
        request.headers.get("authorization"),
        request.app.state.checked_launches,
    )
    await limits_of(request).hit("user", str(caller.customer.id))
    return caller
