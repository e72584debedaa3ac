"""Offline emulator of the Telegram Bot API (and payment providers) for tests and the demo."""
