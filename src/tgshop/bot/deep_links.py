"""Payloads of ``t.me/<bot>?start=<payload>`` links, which arrive as ``/start <payload>``.

Telegram allows 1-64 characters ``A-Z a-z 0-9 _ -`` in a payload; we know two kinds:

- ``p_<product key>`` opens that product's card;
- ``ref_<referral code>`` records who invited a new customer.

Anything else (typed by hand, mangled, from a future version) is ignored: the person just
gets the usual welcome.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_PAYLOAD = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PRODUCT_KEY = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")  # the catalog's key rule


@dataclass(frozen=True)
class ProductLink:
    key: str


@dataclass(frozen=True)
class ReferralLink:
    code: str


DeepLink = ProductLink | ReferralLink


def parse_start_payload(payload: str | None) -> DeepLink | None:
    """The link a ``/start`` payload stands for, or None for none we can use."""
    if not payload or not _PAYLOAD.fullmatch(payload):
        return None
    if payload.startswith("p_"):
        key = payload.removeprefix("p_")
        return ProductLink(key) if _PRODUCT_KEY.fullmatch(key) else None
    if payload.startswith("ref_"):
        code = payload.removeprefix("ref_")
        return ReferralLink(code) if code else None
    return None
