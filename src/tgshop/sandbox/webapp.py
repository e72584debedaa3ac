"""Mini App launch data signed the way Telegram signs it.

initData is a query string of ``query_id``, ``user`` (JSON), ``auth_date`` and ``hash``,
where hash = HMAC-SHA256(key = HMAC-SHA256("WebAppData", bot_token), data-check-string) and
the data-check-string is every other field as ``key=value`` lines, sorted by key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import quote, urlencode

from tgshop.sandbox.state import Account


def sign_init_data(
    bot_token: str,
    user: Account,
    *,
    auth_date: int | None = None,
    extra: dict[str, str] | None = None,
) -> str:
    fields: dict[str, str] = {
        "query_id": "AAH" + secrets.token_urlsafe(16),
        "user": json.dumps(_web_app_user(user), separators=(",", ":"), ensure_ascii=False),
        "auth_date": str(auth_date if auth_date is not None else int(time.time())),
    }
    fields.update(extra or {})
    check = "\n".join(f"{key}={fields[key]}" for key in sorted(fields))
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
