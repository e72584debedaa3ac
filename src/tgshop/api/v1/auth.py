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
  Telegram user in initData).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader
from init_data_py import errors as init_errors
from init_data_py import parse, strip_auth_header, validate_by_hash, validate_by_signature

from tgshop.api.dependencies import get_container
from tgshop.api.v1.rate_limits import limits_of
from tgshop.services.users import TelegramUserData, UserView

if TYPE_CHECKING:
    from tgshop.app import Container

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


async def authenticate(container: Container, authorization: str | None) -> Caller:
    """The customer behind an ``Authorization: tma <initData>`` header (see module)."""
    if not authorization:
        raise Unauthorized("missing", "send Authorization: tma <initData from Telegram.WebApp>")
    settings = container.settings
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
    now = container.clock.now()
    if data.issued_at > now + CLOCK_SKEW:
        raise Unauthorized("from_the_future", "initData is dated in the future")
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
    customer = await container.users.onboard(
        TelegramUserData(
            telegram_id=user.id,
            first_name=user.first_name or str(user.id),
            last_name=user.last_name,
            username=user.username,
            language_code=user.language_code,
        )
    )
    if customer.is_blocked:
        raise Forbidden("this account is blocked in this shop")
    return Caller(customer, data.query_id)


# The Authorization header as an OpenAPI security scheme (an "Authorize" box in /docs); read
# straight from the request, without a header parameter to validate on every call.
TMA = APIKeyHeader(
    name="Authorization",
    scheme_name="tma",
    description=(
        "`tma <initData>`: Telegram.WebApp.initData as the Mini App got it, e.g. "
        "`tma query_id=AAH...&user=%7B%22id%22%3A42...&auth_date=1700000000&hash=...`"
    ),
    auto_error=False,
)


async def current_caller(
    request: Request, authorization: Annotated[str | None, Security(TMA)]
) -> Caller:
    caller = await authenticate(get_container(request), authorization)
    await limits_of(request).hit("user", str(caller.customer.id))
    return caller


CurrentCaller = Annotated[Caller, Depends(current_caller)]
