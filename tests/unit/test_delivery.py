"""The checkout's delivery answers: what is accepted, how it is tidied, and why a refusal."""

from __future__ import annotations

import math

import pytest

from tgshop.domain.delivery import (
    DeliveryDetails,
    DeliveryProblem,
    check_coordinates,
    clean_address,
    clean_comment,
    clean_name,
    parse_phone,
)


@pytest.mark.parametrize(
    ("typed", "kept"),
    [
        ("  Alice   Smith ", "Alice Smith"),
        ("Ян", "Ян"),
        ("<b>Eve</b> & </a>", "<b>Eve</b> & </a>"),  # kept verbatim; escaping is the renderer's
        ("x" * 63 + "é", "x" * 63 + "é"),
    ],
)
def test_names_are_tidied(typed: str, kept: str) -> None:
    assert clean_name(typed) == kept


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("A", "length"),
        ("   ", "length"),
        ("x" * 65, "length"),
        ("12345", "no_letters"),
        ("Al\u200bice", "invalid_characters"),
        ("Bob\x07", "invalid_characters"),
    ],
)
def test_bad_names_say_why(typed: str, reason: str) -> None:
    with pytest.raises(DeliveryProblem) as refused:
        clean_name(typed)
    assert (refused.value.field, refused.value.reason) == ("name", reason)


@pytest.mark.parametrize(
    ("typed", "region", "e164"),
    [
        ("+44 7911 123456", None, "+447911123456"),
        ("447911123456", None, "+447911123456"),  # a contact card: digits, no plus
        ("+1 (202) 555-0100", None, "+12025550100"),
        ("8 916 123-45-67", "RU", "+79161234567"),
        ("+7 916 123 45 67", "DE", "+79161234567"),
    ],
)
def test_phone_numbers_are_kept_in_e164(typed: str, region: str | None, e164: str) -> None:
    assert parse_phone(typed, region) == e164


@pytest.mark.parametrize(
    ("typed", "region", "reason"),
    [
        ("8 916 123-45-67", None, "country_code"),
        ("12345", "RU", "invalid"),
        ("+44 1234", None, "invalid"),
        ("call me", None, "invalid"),
        ("", None, "invalid"),
        ("+1" + "5" * 40, None, "invalid"),
    ],
)
def test_bad_phone_numbers_say_why(typed: str, region: str | None, reason: str) -> None:
    with pytest.raises(DeliveryProblem) as refused:
        parse_phone(typed, region)
    assert (refused.value.field, refused.value.reason) == ("phone", reason)


def test_addresses_keep_their_lines_but_not_runs_of_blanks() -> None:
    assert clean_address("  10 Downing St \n\n\n London   SW1A 2AA ") == (
        "10 Downing St\nLondon SW1A 2AA"
    )
    with pytest.raises(DeliveryProblem, match="5-500"):
        clean_address("Flat")
    with pytest.raises(DeliveryProblem, match="5-500"):
        clean_address("x" * 501)


@pytest.mark.parametrize(
    ("latitude", "longitude"),
    [(91, 0), (0, 181), (-90.5, 10), (math.nan, 1), (1, math.inf), (0, 0)],
)
def test_impossible_locations_are_refused(latitude: float, longitude: float) -> None:
    with pytest.raises(DeliveryProblem) as refused:
        check_coordinates(latitude, longitude)
    assert refused.value.field == "location"


def test_a_location_becomes_an_address_and_coordinates() -> None:
    place = check_coordinates(51.50336401, -0.1276248)
    details = DeliveryDetails(name="Alice", phone="+447911123456", location=place)
    assert details.as_order_delivery() == {
        "name": "Alice",
        "phone": "+447911123456",
        "address": "51.503364, -0.127625",
        "latitude": 51.503364,
        "longitude": -0.127625,
    }


def test_comments_are_optional_and_bounded() -> None:
    assert clean_comment("  ring twice ") == "ring twice"
    assert DeliveryDetails(comment="").as_order_delivery() == {}
    with pytest.raises(DeliveryProblem) as refused:
        clean_comment("x" * 501)
    assert refused.value.params == {"max": 500}
