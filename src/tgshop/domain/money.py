"""Money: an integer amount of minor units plus a currency code. Never floats.

Amounts are parsed from and formatted to decimal strings with the currency's exponent
(USD 2, JPY 0, XTR — Telegram Stars — 0). Arithmetic across currencies is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

# ISO 4217 exponents for the currencies Telegram Payments and common providers accept,
# plus XTR (Telegram Stars, whole units only).
_EXPONENTS: dict[str, int] = {
    "AED": 2,
    "AMD": 2,
    "ARS": 2,
    "AUD": 2,
    "AZN": 2,
    "BDT": 2,
    "BGN": 2,
    "BRL": 2,
    "BYN": 2,
    "CAD": 2,
    "CHF": 2,
    "CLP": 0,
    "CNY": 2,
    "COP": 2,
    "CZK": 2,
    "DKK": 2,
    "EGP": 2,
    "ETB": 2,
    "EUR": 2,
    "GBP": 2,
    "GEL": 2,
    "HKD": 2,
    "HUF": 2,
    "IDR": 2,
    "ILS": 2,
    "INR": 2,
    "ISK": 0,
    "JPY": 0,
    "KES": 2,
    "KGS": 2,
    "KRW": 0,
    "KZT": 2,
    "LKR": 2,
    "MAD": 2,
    "MDL": 2,
    "MNT": 2,
    "MUR": 2,
    "MXN": 2,
    "MYR": 2,
    "MZN": 2,
    "NGN": 2,
    "NOK": 2,
    "NPR": 2,
    "NZD": 2,
    "PHP": 2,
    "PKR": 2,
    "PLN": 2,
    "QAR": 2,
    "RON": 2,
    "RSD": 2,
    "RUB": 2,
    "SAR": 2,
    "SEK": 2,
    "SGD": 2,
    "THB": 2,
    "TJS": 2,
    "TRY": 2,
    "TWD": 2,
    "TZS": 2,
    "UAH": 2,
    "UGX": 0,
    "USD": 2,
    "UZS": 2,
    "VND": 0,
    "YER": 2,
    "ZAR": 2,
    "XTR": 0,
}


def currency_exponent(code: str) -> int:
    """Digits after the decimal point for a currency; ValueError for an unknown code."""
    try:
        return _EXPONENTS[code.upper()]
    except KeyError:
        raise ValueError(f"unknown currency {code!r}") from None


class CurrencyMismatch(ValueError):
    pass


@dataclass(frozen=True, slots=True, order=False)
class Money:
    amount: int
    currency: str

    def __post_init__(self) -> None:
        if not isinstance(self.amount, int) or isinstance(self.amount, bool):
            raise TypeError("Money.amount must be an int of minor units")
        currency_exponent(self.currency)

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def parse(cls, text: str | int, currency: str) -> Money:
        """Parse a decimal string ("9.90") into minor units; refuse extra precision."""
        exponent = currency_exponent(currency)
        try:
            value = Decimal(str(text).strip())
        except InvalidOperation:
            raise ValueError(f"{text!r} is not a valid amount") from None
        if not value.is_finite():
            raise ValueError(f"{text!r} is not a valid amount")
        scaled = value.scaleb(exponent)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{text!r} has more than {exponent} decimal places for {currency}")
        return cls(int(scaled), currency.upper())

    def to_decimal_string(self) -> str:
        exponent = currency_exponent(self.currency)
        if exponent == 0:
            return str(self.amount)
        return str(Decimal(self.amount).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent)))

    def _same(self, other: Money) -> None:
        if self.currency != other.currency:
            raise CurrencyMismatch(f"{self.currency} and {other.currency} do not mix")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __mul__(self, factor: int) -> Money:
        if not isinstance(factor, int):
            raise TypeError("Money can only be multiplied by an int")
        return Money(self.amount * factor, self.currency)

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __str__(self) -> str:
        return f"{self.to_decimal_string()} {self.currency}"
