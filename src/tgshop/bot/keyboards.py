"""Keyboards, with every label from the i18n catalogs."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    WebAppInfo,
)

from tgshop.i18n.translator import Translations, Translator

LANGUAGE_NAMES = {"en": "English", "ru": "Русский"}
MENU_KEYS = ("catalog", "cart", "orders", "help", "language")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


class LanguageChoice(CallbackData, prefix="lang"):
    code: str


def main_menu(t: Translations, shop_url: str | None) -> ReplyKeyboardMarkup:
    """Catalog, Cart, My orders, Open shop (the Mini App, when it has a public URL), Help,
    Language."""
    rows = [
        [
            KeyboardButton(text=t.gettext("bot.menu.catalog")),
            KeyboardButton(text=t.gettext("bot.menu.cart")),
        ],
        [KeyboardButton(text=t.gettext("bot.menu.orders"))],
    ]
    if shop_url:
        rows[1].append(
            KeyboardButton(text=t.gettext("bot.menu.shop"), web_app=WebAppInfo(url=shop_url))
        )
    rows.append(
        [
            KeyboardButton(text=t.gettext("bot.menu.help")),
            KeyboardButton(text=t.gettext("bot.menu.language")),
        ]
    )
    return ReplyKeyboardMarkup(keyboard=rows, resize_keyboard=True, is_persistent=True)


def labels_everywhere(translator: Translator, key: str) -> set[str]:
    """A button's label in every language we speak (a person may switch language while an
    old keyboard is still on screen)."""
    return {translator.get(code).gettext(key) for code in LANGUAGE_NAMES}


def mini_app_url(public_url: str | None) -> str | None:
    """Where the "Open shop" button leads: the Mini App, which Telegram opens over HTTPS only
    (plain HTTP on this machine too, which only the sandbox opens: the demo and the tests)."""
    if not public_url:
        return None
    host = urlsplit(public_url).hostname or ""
    if public_url.startswith("https://") or host in LOOPBACK_HOSTS:
        return f"{public_url}/app"
    return None


def language_picker(current: str) -> InlineKeyboardMarkup:
    buttons = [
        InlineKeyboardButton(
            text=("✓ " if code == current else "") + name,
            callback_data=LanguageChoice(code=code).pack(),
        )
        for code, name in LANGUAGE_NAMES.items()
    ]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])
