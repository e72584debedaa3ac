"""Problems found in a catalog file: where they are, how they read, and the error that
carries them all. Also JSON decoding that reports line/column and repeated keys.

A problem's location is its path in the JSON document, written like
``products[3].variants[0].price``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from tgshop.domain.errors import DomainError

_TYPE_MESSAGES = {
    "model_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "list_type": "must be a list",
    "int_type": "must be a whole number",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
}

Loc = tuple[str | int, ...]


class CatalogImportError(DomainError, ValueError):
    """A catalog file that cannot be imported; ``errors`` lists every problem found.

    Also a ValueError: it is a bad input, and callers that handle bad input generally
    (the CLI) catch it as one.
    """

    code = "invalid_catalog"

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        count = len(self.errors)
        head = f"the catalog has {count} problem{'s' if count != 1 else ''}; nothing was imported"
        super().__init__("\n".join([head, *(f"  {e}" for e in self.errors)]))


@dataclass(frozen=True, order=True)
class CatalogProblem:
    """One problem and where it is: ``loc`` is the path inside the JSON document."""

    loc: Loc
    message: str

    def __str__(self) -> str:
        return f"{format_loc(self.loc)}: {self.message}" if self.loc else self.message


def format_loc(loc: Sequence[str | int]) -> str:
    """``("products", 3, "variants", 0, "price")`` → ``products[3].variants[0].price``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


class _JsonObject(dict[str, Any]):
    """A decoded JSON object that remembers keys written more than once."""

    duplicates: list[str]


def _object_pairs(pairs: list[tuple[str, Any]]) -> _JsonObject:
    obj = _JsonObject()
    obj.duplicates = []
    for key, value in pairs:
        if key in obj and key not in obj.duplicates:
            obj.duplicates.append(key)
        obj[key] = value
    return obj


def _duplicate_json_keys(value: Any, loc: Loc = ()) -> Iterator[CatalogProblem]:
    if isinstance(value, _JsonObject):
        for key in value.duplicates:
            yield CatalogProblem((*loc, key), "written more than once in the same object")
        for key, child in value.items():
            yield from _duplicate_json_keys(child, (*loc, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _duplicate_json_keys(child, (*loc, i))


def decode_json(text: str) -> tuple[Any, list[CatalogProblem]]:
    """Decode JSON text; a syntax error is reported with its line and column."""
    try:
        data = json.loads(text, object_pairs_hook=_object_pairs)
    except json.JSONDecodeError as exc:
        return None, [
            CatalogProblem((), f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}")
        ]
    return data, list(_duplicate_json_keys(data))


def pydantic_message(error: Any) -> str:
    """Pydantic's message, phrased for a merchant reading a path-prefixed list."""
    kind = error["type"]
    if kind == "missing":
        return "required"
    if kind == "extra_forbidden":
        return "unknown field"
    if kind in _TYPE_MESSAGES:
        return _TYPE_MESSAGES[kind]
    if kind == "too_short":
        least = error["ctx"].get("min_length")
        return "must have at least one item" if least == 1 else f"must have at least {least} items"
    if kind == "too_long":
        return f"must have at most {error['ctx'].get('max_length')} items"
    if kind == "string_too_short" and error["ctx"].get("min_length") == 1:
        return "must not be empty"
    msg = str(error["msg"])
    if msg.startswith("Value error, "):
        return msg.removeprefix("Value error, ")
    for old, new in (("Input should be", "must be"), ("String should", "must")):
        if msg.startswith(old):
            msg = new + msg[len(old) :]
            break
    msg = msg.strip()
    return msg[:1].lower() + msg[1:]


def sort_problems(problems: list[CatalogProblem]) -> list[CatalogProblem]:
    """Order by section and item (``categories`` first, then ``products`` by index), keeping
    the order found within one item."""
    sections = {"version": 0, "categories": 1, "products": 2}

    def key(problem: CatalogProblem) -> tuple[int, int]:
        loc = problem.loc
        section = sections.get(str(loc[0]), 3) if loc else -1
        index = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else -1
        return section, index

    return sorted(problems, key=key)
