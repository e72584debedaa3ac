"""Translations read from the ``.po`` catalogs under ``locales/`` when the process starts.

Rules:
- message ids are stable keys (``notify.new_order.title``); the English catalog holds the
  reference text for every key, other catalogs translate them;
- a key that a catalog lacks, leaves empty or marks fuzzy falls back to English, and a key
  unknown even to English comes back as the key itself (visible, never a crash);
- placeholders are ``{name}`` fields filled with ``str.format``; the catalogs are ours, so
  their HTML markup is trusted, but every parameter is the caller's to escape;
- a locale is matched on its language part (``ru-RU``, ``ru_RU``, ``RU`` are ``ru``); an
  unsupported or missing locale gets English.

There is no compile step: Babel parses the ``.po`` text directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from string import Formatter
from typing import Any

from babel.messages.pofile import read_po

DEFAULT_LOCALE = "en"
LOCALES_DIR = Path(__file__).with_name("locales")


def normalize_locale(locale: str | None) -> str:
    """``ru-RU`` / ``ru_RU`` / ``RU`` → ``ru``; empty → ``""``."""
    if not locale:
        return ""
    return locale.replace("-", "_").split("_", 1)[0].strip().lower()


def placeholders(text: str) -> set[str]:
    """The ``{name}`` fields of a message (used to check translations against English)."""
    return {name for _, name, _, _ in Formatter().parse(text) if name}


@dataclass(frozen=True)
class Translations:
    """One locale's messages with the fallback chain already resolved."""

    locale: str
    messages: dict[str, str]
    fallback: Translations | None = field(default=None, repr=False)

    def gettext(self, msgid: str, /, **params: Any) -> str:
        """The message for ``msgid`` with ``params`` filled in (see module rules)."""
        text = self.messages.get(msgid)
        if text is None and self.fallback is not None:
            text = self.fallback.messages.get(msgid)
        if text is None:
            text = msgid
        try:
            return text.format(**params) if params else text
        except (KeyError, IndexError, ValueError) as exc:
            # A translation with a wrong placeholder must not hide the message: say what broke.
            raise ValueError(
                f"message {msgid!r} ({self.locale}) cannot be formatted with "
                f"{sorted(params)}: {exc!r}"
            ) from exc

    def has(self, msgid: str) -> bool:
        return msgid in self.messages

    def starting_with(self, *prefixes: str) -> dict[str, str]:
        """Every message whose key starts with one of ``prefixes``, fallbacks filled in (the
        texts a page carries to its browser)."""
        chosen = dict(self.fallback.starting_with(*prefixes)) if self.fallback else {}
        chosen.update((k, v) for k, v in self.messages.items() if k.startswith(prefixes))
        return chosen


class Translator:
    """Every catalog found under a ``locales/<lang>/LC_MESSAGES/*.po`` tree.

    A locale's messages may be split over several files by area (``messages.po``,
    ``bot_catalog.po``...); they are merged, and a key defined in two files of one locale is
    an error rather than a silent override."""

    def __init__(self, catalogs: dict[str, dict[str, str]], default: str = DEFAULT_LOCALE):
        if default not in catalogs:
            raise ValueError(f"no catalog for the default locale {default!r}")
        base = Translations(default, catalogs[default])
        self.default = default
        self._by_locale: dict[str, Translations] = {default: base}
        for locale, messages in catalogs.items():
            if locale != default:
                self._by_locale[locale] = Translations(locale, messages, fallback=base)

    @classmethod
    def load(cls, directory: Path | None = None, default: str = DEFAULT_LOCALE) -> Translator:
        """Read every ``.po`` file below ``directory`` (the packaged catalogs by default)."""
        root = directory or LOCALES_DIR
        catalogs: dict[str, dict[str, str]] = {}
        for po_path in sorted(root.glob("*/LC_MESSAGES/*.po")):
            locale = normalize_locale(po_path.parent.parent.name)
            merged = catalogs.setdefault(locale, {})
            messages = read_catalog(po_path)
            twice = sorted(set(merged) & set(messages))
            if twice:
                raise ValueError(f"{po_path}: keys already defined for {locale!r}: {twice}")
            merged.update(messages)
        if not catalogs:
            raise FileNotFoundError(f"no message catalogs under {root}")
        return cls(catalogs, default)

    @property
    def locales(self) -> list[str]:
        return sorted(self._by_locale)

    def get(self, locale: str | None) -> Translations:
        """The translations for ``locale``, or the default locale's when it is not supported."""
        return self._by_locale.get(normalize_locale(locale), self._by_locale[self.default])


def read_catalog(path: Path) -> dict[str, str]:
    """The translated, non-fuzzy messages of one ``.po`` file (the header entry dropped)."""
    with path.open("rb") as handle:
        catalog = read_po(handle)
    messages: dict[str, str] = {}
    for message in catalog:
        if not message.id or message.fuzzy or not isinstance(message.id, str):
            continue  # header, stale, or a plural entry (none used yet)
        if isinstance(message.string, str) and message.string:
            messages[message.id] = message.string
    return messages
