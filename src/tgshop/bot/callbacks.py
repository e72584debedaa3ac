"""Callback data shared between routers (one router renders the button, another handles it).

Callback data travels through Telegram and comes back as a string of at most 64 bytes: keep
prefixes short and validate what comes back (a forged or outdated button is possible)."""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData


class ShowCart(CallbackData, prefix="cart"):
    """Open the cart screen (rendered by the cart router)."""


class CheckoutStart(CallbackData, prefix="co"):
    """Begin checkout from the cart screen (handled by the checkout router)."""
