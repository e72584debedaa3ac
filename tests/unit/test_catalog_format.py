"""The catalog file format: every rule that needs neither the disk nor the database."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tgshop.domain.money import Money
from tgshop.services.catalog_format import (
    CatalogImportError,
    ParsedCatalog,
    format_loc,
    parse_catalog_data,
    parse_catalog_text,
    sort_problems,
)

VALID: dict[str, Any] = {
    "categories": [
        {"key": "tea", "title": "Tea", "parent": None},
        {"key": "green", "title": "Green tea", "parent": "tea", "position": 5},
    ],
    "products": [
        {
            "key": "sencha",
            "category": "green",
            "kind": "physical",
            "title": "Sencha",
            "description": "...",
            "images": ["sencha.jpg"],
            "variants": [
                {
                    "sku": "SEN-100",
                    "title": "100 g",
                    "price": "9.90",
                    "currency": "USD",
                    "stock": 25,
                }
            ],
        },
        {
            "key": "ebook",
            "kind": "digital",
            "title": "E-book",
            "variants": [{"sku": "BOOK", "title": "PDF", "price": "5", "stock": "unlimited"}],
        },
    ],
}


def parse(data: Any, currency: str = "USD") -> ParsedCatalog:
    return parse_catalog_data(data, shop_currency=currency)


def messages(parsed: ParsedCatalog) -> list[str]:
    return [str(p) for p in sort_problems(parsed.problems)]


DELETE = object()


def changed(**edits: Any) -> dict[str, Any]:
    """VALID with edits given as {"products.0.variants.0.price": value}; DELETE removes."""
    doc = copy.deepcopy(VALID)
    for dotted, value in edits.items():
        *parents, last = [int(p) if p.isdigit() else p for p in dotted.split(".")]
        node: Any = doc
        for part in parents:
            node = node[part]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return doc


def one_error(data: dict[str, Any], currency: str = "USD") -> str:
    errors = messages(parse(data, currency))
    assert len(errors) == 1, errors
    return errors[0]


def test_the_issue_example_is_valid() -> None:
    parsed = parse(VALID)
    assert parsed.problems == []
    sencha = parsed.products[0].spec
    assert sencha.variants[0].price == Money(990, "USD")
    assert sencha.variants[0].stock == 25
    assert sencha.images == ["sencha.jpg"]
    ebook = parsed.products[1].spec
    assert ebook.variants[0].price == Money(500, "USD")
    assert ebook.variants[0].stock == "unlimited"
    assert ebook.variants[0].currency is None  # defaults to the shop currency
    assert ebook.images is None  # not given: existing images are kept on import
    assert parsed.categories[1].spec.position == 5
    assert parsed.categories[0].spec.position is None


def test_paths_are_formatted_like_the_issue_says() -> None:
    assert format_loc(("products", 3, "variants", 0, "price")) == "products[3].variants[0].price"
    assert format_loc(("version",)) == "version"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("9.999", "products[0].variants[0].price: not a valid amount: '9.999' has more than 2"),
        ("abc", "products[0].variants[0].price: not a valid amount: 'abc'"),
        ("1e3", "products[0].variants[0].price: not a valid amount: '1e3'"),
        ("-1.00", "products[0].variants[0].price: not a valid amount: '-1.00'"),
        ("9,90", "products[0].variants[0].price: not a valid amount: '9,90'"),
        ("", "products[0].variants[0].price: not a valid amount: ''"),
        ("0.00", "products[0].variants[0].price: must be greater than 0"),
        (9.9, 'products[0].variants[0].price: must be a string such as "9.90", not the JSON'),
        (10, 'products[0].variants[0].price: must be a string such as "9.90", not the JSON'),
        (True, "products[0].variants[0].price: must be a decimal string"),
        (None, "products[0].variants[0].price: must be a decimal string"),
    ],
)
def test_bad_prices_are_named_by_path(value: Any, expected: str) -> None:
    assert one_error(changed(**{"products.0.variants.0.price": value})).startswith(expected)


def test_price_precision_follows_the_currency() -> None:
    data = changed(
        **{"products.0.variants.0.price": "990", "products.0.variants.0.currency": "JPY"}
    )
    assert parse(data, "JPY").products[0].spec.variants[0].price == Money(990, "JPY")
    data["products"][0]["variants"][0]["price"] = "9.90"
    assert "more than 0 decimal places for JPY" in one_error(data, "JPY")


@pytest.mark.parametrize(
    ("currency", "expected"),
    [
        ("EUR", "products[0].variants[0].currency: must be the shop currency USD (got EUR)"),
        ("XYZ", "products[0].variants[0].currency: unknown currency 'XYZ'"),
        (840, 'products[0].variants[0].currency: must be a currency code string such as "USD"'),
    ],
)
def test_currency_must_be_the_shop_currency(currency: Any, expected: str) -> None:
    assert one_error(changed(**{"products.0.variants.0.currency": currency})) == expected


def test_lower_case_currency_is_accepted() -> None:
    parsed = parse(changed(**{"products.0.variants.0.currency": "usd"}))
    assert parsed.problems == []


@pytest.mark.parametrize(
    ("stock", "expected"),
    [
        (-1, "products[0].variants[0].stock: must not be negative (got -1)"),
        (2.5, 'products[0].variants[0].stock: must be a whole number of units or "unlimited"'),
        ("25", 'products[0].variants[0].stock: must be a whole number of units or "unlimited"'),
        (
            "infinite",
            'products[0].variants[0].stock: must be a whole number of units or "unlimited"',
        ),
        (True, 'products[0].variants[0].stock: must be a whole number of units or "unlimited"'),
        (2**31, "products[0].variants[0].stock: must be at most 2147483647"),
    ],
)
def test_bad_stock(stock: Any, expected: str) -> None:
    assert one_error(changed(**{"products.0.variants.0.stock": stock})) == expected


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        ({"products.0.kind": "gadget"}, "products[0].kind: must be 'physical', 'digital'"),
        ({"products.0.title": "   "}, "products[0].title: must not be empty"),
        ({"products.0.title": 5}, "products[0].title: must be a string"),
        ({"products.0.title": DELETE}, "products[0].title: required"),
        ({"products.0.variants": []}, "products[0].variants: must have at least one item"),
        ({"products.0.variants": DELETE}, "products[0].variants: required"),
        ({"products.0.images": "sencha.jpg"}, "products[0].images: must be a list"),
        ({"products.0.images": ["x.png"] * 11}, "products[0].images: must have at most 10 items"),
        ({"products.0.active": "yes"}, "products[0].active: must be true or false"),
        ({"products.0.position": "1"}, "products[0].position: must be a whole number"),
        ({"products.0.colour": "red"}, "products[0].colour: unknown field"),
        ({"products.0.key": "Sen cha"}, "products[0].key: 'Sen cha' is not a valid key"),
        ({"products.0.variants.0.sku": "SEN 100"}, "products[0].variants[0].sku: 'SEN 100' is not"),
        ({"products.0.variants.0.stars_price": 0}, "products[0].variants[0].stars_price: must be"),
        (
            {"products.0.variants.0.stars_price": "5"},
            "products[0].variants[0].stars_price: must be",
        ),
        ({"categories.0.parent": 1}, "categories[0].parent: must be a string"),
        ({"categories.1": "green"}, "categories[1]: must be a JSON object"),
        ({"version": 2}, "version: must be 1"),
        ({"categories": {}}, "categories: must be a list"),
        ({"shop": "x"}, "shop: unknown field"),
    ],
)
def test_wrong_shapes_are_named_by_path(edit: dict[str, Any], expected: str) -> None:
    assert one_error(changed(**edit)).startswith(expected)


def test_duplicate_keys_and_skus_point_at_the_first_one() -> None:
    data = copy.deepcopy(VALID)
    data["categories"].append({"key": "tea", "title": "Tea again"})
    data["products"].append(copy.deepcopy(data["products"][0]))
    data["products"][1]["variants"].append({"sku": "BOOK", "title": "x", "price": "1"})
    assert messages(parse(data)) == [
        "categories[2].key: duplicate category key 'tea' (first at categories[0].key)",
        "products[1].variants[1].sku: duplicate sku 'BOOK' (first at products[1].variants[0].sku)",
        "products[2].key: duplicate product key 'sencha' (first at products[0].key)",
        "products[2].variants[0].sku: duplicate sku 'SEN-100' "
        "(first at products[0].variants[0].sku)",
    ]


def test_every_problem_is_reported_at_once() -> None:
    data = copy.deepcopy(VALID)
    data["categories"][0]["title"] = ""
    variant = data["products"][0]["variants"][0]
    variant.update(price="9.999", currency="EUR", stock=-5)
    data["products"][1]["kind"] = "thing"
    data["products"].append({"key": "x"})
    errors = messages(parse(data))
    assert errors == [
        "categories[0].title: must not be empty",
        "products[0].variants[0].currency: must be the shop currency USD (got EUR)",
        # the amount is still checked, against the shop currency
        "products[0].variants[0].price: not a valid amount: '9.999' has more than 2 decimal "
        "places for USD",
        "products[0].variants[0].stock: must not be negative (got -5)",
        "products[1].kind: must be 'physical', 'digital', 'subscription' or 'service'",
        "products[2].kind: required",
        "products[2].title: required",
        "products[2].variants: required",
    ]


def test_invalid_json_names_line_and_column() -> None:
    text = '{\n  "categories": [\n    {"key": "tea" "title": "Tea"}\n  ]\n}'
    assert messages(parse_catalog_text(text, shop_currency="USD")) == [
        "invalid JSON at line 3, column 19: Expecting ',' delimiter"
    ]


def test_a_key_written_twice_in_one_object_is_refused() -> None:
    text = json.dumps(VALID).replace('"price": "9.90"', '"price": "9.90", "price": "99.00"')
    assert messages(parse_catalog_text(text, shop_currency="USD")) == [
        "products[0].variants[0].price: written more than once in the same object"
    ]


@pytest.mark.parametrize("text", ["[]", '"catalog"', "null", "42"])
def test_the_document_must_be_an_object(text: str) -> None:
    assert messages(parse_catalog_text(text, shop_currency="USD")) == [
        'the catalog must be a JSON object with "categories" and "products" lists'
    ]


def test_an_empty_object_is_an_empty_catalog() -> None:
    parsed = parse_catalog_text("{}", shop_currency="USD")
    assert parsed.problems == []
    assert parsed.categories == parsed.products == []


def test_keys_of_invalid_items_still_count_as_known() -> None:
    data = changed(**{"categories.1.title": ""})
    parsed = parse(data)
    assert [c.spec.key for c in parsed.categories] == ["tea"]
    assert parsed.refs.category_keys == {"tea", "green"}  # so products[0].category is not "unknown"


def test_the_import_error_lists_every_problem() -> None:
    error = CatalogImportError(["a: x", "b: y"])
    assert error.errors == ["a: x", "b: y"]
    assert str(error) == "the catalog has 2 problems; nothing was imported\n  a: x\n  b: y"
