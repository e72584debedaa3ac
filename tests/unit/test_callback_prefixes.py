"""Every button kind has a prefix of its own: two CallbackData classes sharing one would
let a press meant for one router be read by another."""

from __future__ import annotations

import importlib
import pkgutil

from aiogram.filters.callback_data import CallbackData

import tgshop.bot


def _all_subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


def test_callback_data_prefixes_are_unique() -> None:
    for module in pkgutil.walk_packages(tgshop.bot.__path__, "tgshop.bot."):
        importlib.import_module(module.name)
    ours = [c for c in _all_subclasses(CallbackData) if c.__module__.startswith("tgshop.")]
    assert len(ours) > 10, "the bot's button kinds should be found"
    by_prefix: dict[str, list[str]] = {}
    for cls in ours:
        by_prefix.setdefault(cls.__prefix__, []).append(f"{cls.__module__}.{cls.__name__}")
    shared = {prefix: names for prefix, names in by_prefix.items() if len(names) > 1}
    assert shared == {}
