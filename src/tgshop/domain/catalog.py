"""Catalog rules that do not need a database."""

from __future__ import annotations

import unicodedata
from enum import StrEnum


class ProductKind(StrEnum):
    PHYSICAL = "physical"
    DIGITAL = "digital"
    SUBSCRIPTION = "subscription"
    SERVICE = "service"


class StockMode(StrEnum):
    TRACKED = "tracked"  # a finite quantity, reserved by orders
    UNLIMITED = "unlimited"  # services, subscriptions, generated keys


def search_key(*parts: str | None) -> str:
    """Text folded for case-insensitive search in any language.

    SQLite's LOWER() only folds ASCII, so we store a casefolded, NFKC-normalised copy of the
    searchable text and match the casefolded query against it on every database alike.
    """
    text = " ".join(p for p in parts if p)
    return unicodedata.normalize("NFKC", text).casefold()


def escape_like(term: str) -> str:
    """Escape LIKE wildcards so a user's ``%`` or ``_`` matches literally (escape char ``\\``)."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
