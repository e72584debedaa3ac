"""The wallet ledger: double entry, so money is never created or lost by a bug in one place.

Rules:
- every movement is one ledger transaction of two or more postings whose amounts sum to
  zero in each currency; no posting is zero;
- accounts are named: ``wallet:<user id>`` (what the shop owes a customer),
  ``shop:revenue`` (sales), ``shop:expense`` (what the shop gives away: bonuses, goodwill
  adjustments) and ``external:<gateway>`` (money outside: the provider that brought it in
  or took it back);
- a wallet balance is the sum of its postings and never goes below zero;
- a transaction carries a unique reference (``payment:42``, ``refund:7``...): posting the
  same reference again does nothing, so a retried or duplicated event moves money once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from enum import StrEnum

from tgshop.domain.errors import InvalidRequest

REVENUE = "shop:revenue"
EXPENSE = "shop:expense"


class LedgerKind(StrEnum):
    TOPUP = "topup"
    PURCHASE = "purchase"  # paid from the wallet
    SALE = "sale"  # paid through a gateway
    REFUND = "refund"
    ADJUSTMENT = "adjustment"
    REFERRAL_BONUS = "referral_bonus"
    LATE_PAYMENT = "late_payment"  # money for an order that could no longer take it


def wallet(user_id: int) -> str:
    return f"wallet:{user_id}"


def external(gateway: str) -> str:
    return f"external:{gateway}"


def wallet_owner(account: str) -> int | None:
    """The user id of a wallet account, None for any other account."""
    kind, _, rest = account.partition(":")
    return int(rest) if kind == "wallet" and rest.isdigit() else None


@dataclass(frozen=True)
class Posting:
    account: str
    amount: int  # minor units; positive adds to the account, negative takes from it
    currency: str


def check_balanced(postings: list[Posting]) -> None:
    """Raise InvalidRequest unless the postings form one valid ledger transaction."""
    if len(postings) < 2:
        raise InvalidRequest("a ledger transaction needs at least two postings")
    sums: dict[str, int] = defaultdict(int)
    for posting in postings:
        if posting.amount == 0:
            raise InvalidRequest(f"a posting to {posting.account} is zero")
        if not posting.account or len(posting.account) > 64:
            raise InvalidRequest("a posting needs an account name of 1-64 characters")
        sums[posting.currency] += posting.amount
    unbalanced = {currency: total for currency, total in sums.items() if total}
    if unbalanced:
        raise InvalidRequest(f"postings do not balance: {unbalanced}")


def transfer(source: str, target: str, amount: int, currency: str) -> list[Posting]:
    """Move ``amount`` from one account to another: the two postings."""
    if amount <= 0:
        raise InvalidRequest("a transfer moves a positive amount")
    return [Posting(source, -amount, currency), Posting(target, amount, currency)]
