"""The catalog file format, version 1 (docs/catalog-format.md): models and file-only checks.

Rules stated here, enforced by :func:`parse_catalog_text`:

- The file is UTF-8 JSON: an object with optional ``version`` (must be 1), ``categories``
  and ``products`` lists. Unknown fields are refused everywhere (they are usually typos),
  and so is a key written twice in one JSON object (JSON parsers silently keep the last).
- Categories and products are identified by ``key``, variants by ``sku``; keys and skus
  are unique within the file. Re-importing a file updates the rows with those keys.
- Prices are decimal *strings* (``"9.90"``), never JSON numbers, with no more decimals
  than the currency allows, and greater than zero. A variant's currency, when given, must
  be a known code and equal to the shop currency; when omitted it is the shop currency.
- Every product has at least one variant and at most 10 images (a Telegram album).
- Every problem is collected, each named by its path (``products[3].variants[0].price``),
  so a merchant fixes a file in one pass.

Checks that need the database or the disk (unknown categories, parent cycles, skus owned
by another product, image files) live in :mod:`tgshop.services.catalog_checks`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from tgshop.domain.money import Money, currency_exponent
from tgshop.services.catalog_problems import (
    CatalogImportError,
    CatalogProblem,
    Loc,
    decode_json,
    format_loc,
    pydantic_message,
    sort_problems,
)

__all__ = [
    "CatalogImportError",
    "CatalogProblem",
    "CategorySpec",
    "Indexed",
    "ParsedCatalog",
    "ProductSpec",
    "References",
    "SkuRef",
    "VariantSpec",
    "format_loc",
    "parse_catalog_data",
    "parse_catalog_text",
    "sort_problems",
]

FORMAT_VERSION = 1
MAX_IMAGES_PER_PRODUCT = 10  # a Telegram media group holds at most 10 items
INT32_MAX = 2**31 - 1  # positions, stock and Stars prices are 32-bit INTEGER columns
MAX_PRICE_MINOR_UNITS = 10**15  # far above any real price, far below BIGINT overflow

_KEY_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_SKU_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-/]{0,63}")
_AMOUNT_RE = re.compile(r"[0-9]+(\.[0-9]+)?")
_TOP_LEVEL = ("version", "categories", "products")


def _check_key(value: str) -> str:
    if not _KEY_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid key: use 1-64 characters a-z, 0-9, '-' or '_', "
            "starting with a letter or digit"
        )
    return value


def _check_sku(value: str) -> str:
    if not _SKU_RE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid sku: use 1-64 characters A-Z, a-z, 0-9, '-', '_', '.' "
            "or '/', starting with a letter or digit"
        )
    return value


Key = Annotated[str, AfterValidator(_check_key)]
Sku = Annotated[str, AfterValidator(_check_sku)]
Position = Annotated[int, Field(ge=-INT32_MAX, le=INT32_MAX)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4096)]
ImageRef = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1024)]


Title128 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Title256 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


class _Strict(BaseModel):
    # strict: "1" is not an int, 1 is not a string, true is not an int.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class CategorySpec(_Strict):
    key: Key
    title: Title128
    description: Description = ""
    parent: Key | None = None
    position: Position | None = None
    active: bool = True


class VariantSpec(_Strict):
    sku: Sku
    title: Title128
    # ``currency`` is declared before ``price`` so the price validator can see it.
    currency: str | None = None
    price: Money
    stars_price: Annotated[int, Field(ge=1, le=INT32_MAX)] | None = None
    # None: not given — a new variant gets a default, an existing one keeps its stock.
    stock: int | Literal["unlimited"] | None = None
    active: bool = True

    @field_validator("currency", mode="plain")
    @classmethod
    def _currency(cls, value: object, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise ValueError('must be a currency code string such as "USD"')
        code = value.strip().upper()
        try:
            currency_exponent(code)
        except ValueError:
            raise ValueError(f"unknown currency {value!r}") from None
        shop = _shop_currency(info)
        if code != shop:
            raise ValueError(f"must be the shop currency {shop} (got {code})")
        return code

    @field_validator("price", mode="plain")
    @classmethod
    def _price(cls, value: object, info: ValidationInfo) -> Money:
        # If the currency itself was invalid it is missing from info.data; the shop currency
        # still lets us check the amount, so both problems are reported together.
        currency = info.data.get("currency") or _shop_currency(info)
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError('must be a decimal string such as "9.90"')
        if not isinstance(value, str):
            raise ValueError(
                f'must be a string such as "9.90", not the JSON number {value!r} '
                "(numbers can lose precision)"
            )
        text = value.strip()
        if not _AMOUNT_RE.fullmatch(text):
            raise ValueError(f'not a valid amount: {value!r} (write it like "9.90")')
        try:
            money = Money.parse(text, currency)
        except ValueError as exc:
            raise ValueError(f"not a valid amount: {exc}") from None
        if money.amount <= 0:
            raise ValueError("must be greater than 0")
        if money.amount > MAX_PRICE_MINOR_UNITS:
            raise ValueError("is too large")
        return money

    @field_validator("stock", mode="plain")
    @classmethod
    def _stock(cls, value: object) -> int | Literal["unlimited"] | None:
        if value is None or value == "unlimited":
            return "unlimited" if value == "unlimited" else None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError('must be a whole number of units or "unlimited"')
        if value < 0:
            raise ValueError(f"must not be negative (got {value})")
        if value > INT32_MAX:
            raise ValueError(f"must be at most {INT32_MAX}")
        return value


class ProductSpec(_Strict):
    key: Key
    category: Key | None = None
    kind: Literal["physical", "digital", "subscription", "service"]
    title: Title256
    description: Description = ""
    # None: not given — an existing product keeps its images; [] removes them.
    images: Annotated[list[ImageRef], Field(max_length=MAX_IMAGES_PER_PRODUCT)] | None = None
    position: Position | None = None
    active: bool = True
    variants: Annotated[list[VariantSpec], Field(min_length=1)]


def _shop_currency(info: ValidationInfo) -> str:
    context = info.context
    if not isinstance(context, dict) or "shop_currency" not in context:
        raise RuntimeError("catalog models are validated with context={'shop_currency': ...}")
    return str(context["shop_currency"])


@dataclass(frozen=True)
class Indexed(Generic[T]):
    """A validated item and its index in the file (for error paths and default positions)."""

    index: int
    spec: T


@dataclass(frozen=True)
class SkuRef:
    product_index: int
    product_key: str | None
    variant_index: int
    sku: str


@dataclass
class References:
    """What every item of the file refers to, read from the raw items, valid or not.

    Cross-checks (unknown categories, cycles, sku owners, image files) run on these so an
    item with a field error still has its references checked: every problem at once.
    """

    category_keys: set[str] = field(default_factory=set)
    # (category index, key, parent) for every category whose key and parent are strings/null
    parents: list[tuple[int, str, str | None]] = field(default_factory=list)
    # (product index, category key)
    categories: list[tuple[int, str]] = field(default_factory=list)
    # product index → [(image index, reference)]
    images: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    # skus written once in the file (a duplicate is already reported as such)
    skus: list[SkuRef] = field(default_factory=list)


@dataclass
class ParsedCatalog:
    """The items that passed validation, the references of all items, every problem."""

    categories: list[Indexed[CategorySpec]] = field(default_factory=list)
    products: list[Indexed[ProductSpec]] = field(default_factory=list)
    problems: list[CatalogProblem] = field(default_factory=list)
    refs: References = field(default_factory=References)

    def add(self, loc: Loc, message: str) -> None:
        self.problems.append(CatalogProblem(loc, message))


def _validate(
    model: type[M], data: Any, loc: Loc, parsed: ParsedCatalog, shop_currency: str
) -> M | None:
    try:
        return model.model_validate(data, context={"shop_currency": shop_currency})
    except ValidationError as exc:
        for error in exc.errors():
            parsed.add((*loc, *error["loc"]), pydantic_message(error))
        return None


def _raw_key(item: Any, name: str) -> str | None:
    value = item.get(name) if isinstance(item, dict) else None
    return value if isinstance(value, str) else None


def _collect_references(
    raw_categories: list[Any], raw_products: list[Any], parsed: ParsedCatalog
) -> None:
    """Duplicate keys and skus, and every reference, read from the raw items."""
    refs = parsed.refs

    def track(seen: dict[str, Loc], value: str | None, loc: Loc, what: str) -> bool:
        if value is None:
            return False
        if value in seen:
            parsed.add(loc, f"duplicate {what} {value!r} (first at {format_loc(seen[value])})")
            return False
        seen[value] = loc
        return True

    category_keys: dict[str, Loc] = {}
    for i, item in enumerate(raw_categories):
        key = _raw_key(item, "key")
        if track(category_keys, key, ("categories", i, "key"), "category key") and key:
            parent = item.get("parent")
            if parent is None or isinstance(parent, str):
                refs.parents.append((i, key, parent))
    refs.category_keys = set(category_keys)
    product_keys: dict[str, Loc] = {}
    skus: dict[str, Loc] = {}
    first_sku: dict[str, SkuRef] = {}
    for i, item in enumerate(raw_products):
        key = _raw_key(item, "key")
        track(product_keys, key, ("products", i, "key"), "product key")
        if not isinstance(item, dict):
            continue
        category = _raw_key(item, "category")
        if category is not None:
            refs.categories.append((i, category))
        images = item.get("images")
        if isinstance(images, list):
            refs.images[i] = [(j, r.strip()) for j, r in enumerate(images) if isinstance(r, str)]
        variants = item.get("variants")
        for j, variant in enumerate(variants if isinstance(variants, list) else []):
            sku = _raw_key(variant, "sku")
            if track(skus, sku, ("products", i, "variants", j, "sku"), "sku") and sku:
                first_sku[sku] = SkuRef(i, key, j, sku)
            elif sku is not None:
                first_sku.pop(sku, None)
    refs.skus = list(first_sku.values())


def parse_catalog_data(data: Any, *, shop_currency: str) -> ParsedCatalog:
    """Validate a decoded document; every item is checked even after earlier failures."""
    parsed = ParsedCatalog()
    if not isinstance(data, dict):
        parsed.add((), 'the catalog must be a JSON object with "categories" and "products" lists')
        return parsed
    for name in data:
        if name not in _TOP_LEVEL:
            parsed.add((name,), "unknown field")
    version = data.get("version", FORMAT_VERSION)
    if type(version) is not int or version != FORMAT_VERSION:
        parsed.add(("version",), f"must be {FORMAT_VERSION} (the only version this tgshop reads)")
    sections: dict[str, list[Any]] = {}
    for name in ("categories", "products"):
        value = data.get(name, [])
        if not isinstance(value, list):
            parsed.add((name,), "must be a list")
            value = []
        sections[name] = value
    categories, products = sections["categories"], sections["products"]
    _collect_references(categories, products, parsed)
    for i, item in enumerate(categories):
        category = _validate(CategorySpec, item, ("categories", i), parsed, shop_currency)
        if category is not None:
            parsed.categories.append(Indexed(i, category))
    for i, item in enumerate(products):
        product = _validate(ProductSpec, item, ("products", i), parsed, shop_currency)
        if product is not None:
            parsed.products.append(Indexed(i, product))
    return parsed


def parse_catalog_text(text: str, *, shop_currency: str) -> ParsedCatalog:
    """Decode and validate catalog JSON text without touching the disk or the database."""
    data, problems = decode_json(text)
    if data is None and problems:
        parsed = ParsedCatalog()
        parsed.problems.extend(problems)
        return parsed
    parsed = parse_catalog_data(data, shop_currency=shop_currency)
    parsed.problems[:0] = problems
    return parsed
