"""Mini App launch data signed the way Telegram signs it.

initData is a query string of ``query_id``, ``user`` (JSON), ``auth_date``, ``signature``
and ``hash``:

- ``signature`` (Bot API 8.0, for third parties that do not hold the token) is an Ed25519
  signature, unpadded base64url, over ``"<bot_id>:WebAppData\n"`` followed by every field but
  ``hash`` and ``signature`` as ``key=value`` lines sorted by key. Telegram signs with its
  own key; the sandbox with a key pair of its own (:class:`LaunchKey`), whose public half a
  shop configures instead of Telegram's (``TGSHOP_API_INIT_DATA_PUBLIC_KEY``);
- hash = HMAC-SHA256(key = HMAC-SHA256("WebAppData", bot_token), data-check-string), where
  the data-check-string is every other field (``signature`` included) as ``key=value`` lines
  sorted by key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import quote, urlencode

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tgshop.sandbox.state import Account


class LaunchKey:
    """The sandbox's stand-in for Telegram's Ed25519 signing key (a fresh pair per sandbox)."""

    def __init__(self) -> None:
        self._private = Ed25519PrivateKey.generate()

    @property
    def public_hex(self) -> str:
        return self._private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()

    def sign(self, message: bytes) -> str:
        return base64.urlsafe_b64encode(self._private.sign(message)).decode().rstrip("=")


def sign_init_data(
    bot_token: str,
    user: Account,
    *,
    auth_date: int | None = None,
    extra: dict[str, str] | None = None,
    key: LaunchKey | None = None,
) -> str:
    """Launch data for ``user``; signed with ``key`` too when given (see module)."""
    fields: dict[str, str] = {
        "query_id": "AAH" + secrets.token_urlsafe(16),
        "user": json.dumps(_web_app_user(user), separators=(",", ":"), ensure_ascii=False),
        "auth_date": str(auth_date if auth_date is not None else int(time.time())),
    }
    fields.update(extra or {})
    if key is not None:
        bot_id = bot_token.split(":", 1)[0]
        signed = "\n".join(f"{name}={fields[name]}" for name in sorted(fields))
        fields["signature"] = key.sign(f"{bot_id}:WebAppData\n{signed}".encode())
    check = "\n".join(f"{name}={fields[name]}" for name in sorted(fields))
    secret = hmac.new(b"WebAppData", bot_token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields, quote_via=quote)


def _web_app_user(user: Account) -> dict[str, Any]:
    data: dict[str, Any] = {"id": user.id, "first_name": user.first_name}
    if user.last_name:
        data["last_name"] = user.last_name
    if user.username:
        data["username"] = user.username
    if user.language_code:
        data["language_code"] = user.language_code
    data["allows_write_to_pm"] = True
    return data


def launch_url(url: str, init_data: str, *, platform: str = "web") -> str:
    """The URL a Telegram client opens: launch parameters go in the fragment."""
    params = urlencode(
        {"tgWebAppData": init_data, "tgWebAppVersion": "8.0", "tgWebAppPlatform": platform},
        quote_via=quote,
    )
    return f"{url}#{params}"
