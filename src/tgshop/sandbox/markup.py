"""Reply markup as Telegram validates it."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from tgshop.sandbox.errors import bad_request

INLINE_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def _valid_url(url: Any, *, web_app: bool = False) -> bool:
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    if parts.scheme == "tg" and not web_app:
        return True
    # Telegram wants https for web apps; the sandbox also lets local http through so the
    # demo and tests can open a Mini App served on 127.0.0.1.
    local = parts.hostname in {"127.0.0.1", "localhost", "::1"}
    allowed = {"https"} | ({"http"} if (local or not web_app) else set())
    return parts.scheme in allowed and bool(parts.netloc)


def _inline_button(button: Any) -> dict[str, Any]:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request(
            'can\'t parse inline keyboard button: Field "text" must be of type String'
        )
    if not button["text"]:
        raise bad_request("text buttons are unallowed in the inline keyboard")
    actions = [a for a in INLINE_ACTIONS if a in button]
    if len(actions) != 1:
        raise bad_request(
            "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
            if not actions
            else "can't parse inline keyboard button: more than one action given"
        )
    action = actions[0]
    if action == "callback_data":
        data = button["callback_data"]
        if not isinstance(data, str) or not 1 <= len(data.encode()) <= 64:
            raise bad_request("BUTTON_DATA_INVALID")
    elif action == "url" and not _valid_url(button["url"]):
        raise bad_request("BUTTON_URL_INVALID")
    elif action == "web_app":
        web_app = button["web_app"]
        if not isinstance(web_app, dict) or not _valid_url(web_app.get("url"), web_app=True):
            raise bad_request("BUTTON_TYPE_INVALID")
    return button


def inline_keyboard(markup: Any) -> dict[str, Any] | None:
    """Validate an InlineKeyboardMarkup (or None); other markup kinds return None."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return None
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise bad_request(
            'can\'t parse inline keyboard: field "inline_keyboard" must be an Array of Arrays'
        )
    if sum(len(r) for r in rows) > 100:
        raise bad_request("BUTTONS_TOO_MUCH")
    return {"inline_keyboard": [[_inline_button(b) for b in row] for row in rows]}


def reply_keyboard(markup: Any) -> dict[str, Any] | bool | None:
    """A ReplyKeyboardMarkup to show, False to remove the keyboard, None to leave it."""
    if not isinstance(markup, dict):
        return None
    if markup.get("remove_keyboard"):
        return False
    rows = markup.get("keyboard")
    if rows is None:
        return None
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise bad_request("can't parse reply keyboard markup JSON object")
    normalized = []
    for row in rows:
        buttons = []
        for button in row:
            button = {"text": button} if isinstance(button, str) else button
            if not isinstance(button, dict) or not button.get("text"):
                raise bad_request("keyboard button text must be non-empty")
            if "web_app" in button and not _valid_url(
                (button["web_app"] or {}).get("url"), web_app=True
            ):
                raise bad_request("BUTTON_TYPE_INVALID")
            buttons.append(button)
        normalized.append(buttons)
    return {**markup, "keyboard": normalized}
