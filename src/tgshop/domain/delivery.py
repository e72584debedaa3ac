"""Delivery details a customer gives at checkout, and the rules each answer must meet.

Rules:
- name: 2-64 characters after trimming and collapsing spaces, at least one letter, no
  control characters;
- phone: parsed with Google's libphonenumber (``phonenumbers``) and kept in E.164 form
  (``+447911123456``); a number typed without ``+`` is read in the shop's default region,
  and without a default region it must start with ``+`` and the country code; the number
  must be a valid number for its region, not merely well-formed;
- address: 5-500 characters of text, or a shared location with finite coordinates
  (latitude -90..90, longitude -180..180; ``0, 0`` — the ocean a broken GPS reports — is
  refused);
- comment: optional, at most 500 characters.

A refused answer raises :class:`DeliveryProblem` with a machine ``reason`` and the
parameters a front end needs to say, in the customer's language, what is wrong.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import phonenumbers

from tgshop.domain.errors import InvalidRequest

NAME_MIN, NAME_MAX = 2, 64
ADDRESS_MIN, ADDRESS_MAX = 5, 500
COMMENT_MAX = 500
_SPACES = re.compile(r"\s+")


class DeliveryProblem(InvalidRequest):
    """One answer that does not meet its rule. ``reason`` is stable; ``params`` fill the
    explanation (``{"min": 2, "max": 64}``)."""

    code = "delivery_problem"

    def __init__(self, field: str, reason: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason
        self.params = params


def _has_control_characters(text: str) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\n\t" for ch in text)


def clean_name(text: str) -> str:
    """The recipient's name, tidied (see module rules)."""
    name = _SPACES.sub(" ", text).strip()
    if _has_control_characters(name):
        raise DeliveryProblem("name", "invalid_characters", "name has invisible characters")
    if not NAME_MIN <= len(name) <= NAME_MAX:
        raise DeliveryProblem(
            "name",
            "length",
            f"name must be {NAME_MIN}-{NAME_MAX} characters",
            min=NAME_MIN,
            max=NAME_MAX,
        )
    if not any(ch.isalpha() for ch in name):
        raise DeliveryProblem("name", "no_letters", "name must contain letters")
    return name


def parse_phone(text: str, default_region: str | None = None) -> str:
    """The phone number in E.164 form (see module rules)."""
    raw = text.strip()
    if not raw or len(raw) > 32:
        raise DeliveryProblem("phone", "invalid", "this is not a phone number")
    if not raw.startswith("+") and raw.isdigit() and default_region is None:
        # Telegram's contact card gives digits with the country code but without the plus.
        raw = "+" + raw
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        if exc.error_type == phonenumbers.NumberParseException.INVALID_COUNTRY_CODE:
            raise DeliveryProblem(
                "phone", "country_code", "start the number with + and the country code"
            ) from exc
        raise DeliveryProblem("phone", "invalid", "this is not a phone number") from exc
    if not phonenumbers.is_valid_number(number):
        raise DeliveryProblem("phone", "invalid", "this is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def clean_address(text: str) -> str:
    """A postal address typed as text (see module rules)."""
    address = "\n".join(_SPACES.sub(" ", line).strip() for line in text.strip().splitlines())
    address = re.sub(r"\n{2,}", "\n", address)
    if _has_control_characters(address):
        raise DeliveryProblem("address", "invalid_characters", "address has invisible characters")
    if not ADDRESS_MIN <= len(address) <= ADDRESS_MAX:
        raise DeliveryProblem(
            "address",
            "length",
            f"address must be {ADDRESS_MIN}-{ADDRESS_MAX} characters",
            min=ADDRESS_MIN,
            max=ADDRESS_MAX,
        )
    return address


@dataclass(frozen=True)
class Coordinates:
    latitude: float
    longitude: float

    def __str__(self) -> str:
        return f"{self.latitude:.6f}, {self.longitude:.6f}"


def check_coordinates(latitude: float, longitude: float) -> Coordinates:
    """A shared location (see module rules)."""
    if not (math.isfinite(latitude) and math.isfinite(longitude)):
        raise DeliveryProblem("location", "invalid", "the location has no valid coordinates")
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise DeliveryProblem("location", "invalid", "the location has no valid coordinates")
    if latitude == 0 and longitude == 0:
        raise DeliveryProblem("location", "invalid", "the location has no valid coordinates")
    return Coordinates(round(latitude, 6), round(longitude, 6))


def clean_comment(text: str) -> str:
    """An optional note for the shop (see module rules)."""
    comment = text.strip()
    if _has_control_characters(comment):
        raise DeliveryProblem("comment", "invalid_characters", "comment has invisible characters")
    if len(comment) > COMMENT_MAX:
        raise DeliveryProblem(
            "comment",
            "too_long",
            f"comment must be at most {COMMENT_MAX} characters",
            max=COMMENT_MAX,
        )
    return comment


@dataclass(frozen=True)
class DeliveryDetails:
    """What an order records about where it goes. Digital goods need none of it."""

    name: str | None = None
    phone: str | None = None
    address: str | None = None
    location: Coordinates | None = None
    comment: str | None = None

    def as_order_delivery(self) -> dict[str, Any]:
        """The order's ``delivery`` field: text and numbers only, empty answers left out."""
        out: dict[str, Any] = {}
        for key in ("name", "phone", "address", "comment"):
            value = getattr(self, key)
            if value:
                out[key] = value
        if self.location is not None:
            out.setdefault("address", str(self.location))
            out["latitude"] = self.location.latitude
            out["longitude"] = self.location.longitude
        return out
