from collections import defaultdict

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tgshop.domain.errors import InvalidRequest
from tgshop.domain.ledger import (
    EXPENSE,
    REVENUE,
    Posting,
    check_balanced,
    external,
    transfer,
    wallet,
    wallet_owner,
)

ACCOUNTS = [wallet(1), wallet(2), REVENUE, EXPENSE, external("stars"), external("yookassa")]

movements = st.lists(
    st.tuples(
        st.sampled_from(ACCOUNTS),
        st.sampled_from(ACCOUNTS),
        st.integers(min_value=1, max_value=10**9),
        st.sampled_from(["USD", "XTR"]),
    ).filter(lambda m: m[0] != m[1]),
    max_size=50,
)


@given(movements)
def test_any_sequence_of_transfers_keeps_the_books_at_zero(moves) -> None:
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for source, target, amount, currency in moves:
        postings = transfer(source, target, amount, currency)
        check_balanced(postings)  # every transaction balances on its own
        for posting in postings:
            totals[(posting.account, posting.currency)] += posting.amount
    for currency in ("USD", "XTR"):
        assert sum(v for (_, c), v in totals.items() if c == currency) == 0


@given(
    st.lists(
        st.tuples(st.sampled_from(ACCOUNTS), st.integers(-1000, 1000), st.just("USD")),
        min_size=2,
        max_size=6,
    )
)
def test_only_postings_that_sum_to_zero_are_a_transaction(raw) -> None:
    postings = [Posting(account, amount, currency) for account, amount, currency in raw]
    if any(p.amount == 0 for p in postings) or sum(p.amount for p in postings) != 0:
        with pytest.raises(InvalidRequest):
            check_balanced(postings)
    else:
        check_balanced(postings)


def test_balancing_is_per_currency_and_needs_two_postings() -> None:
    with pytest.raises(InvalidRequest, match="do not balance"):
        check_balanced([Posting(wallet(1), 100, "USD"), Posting(REVENUE, -100, "XTR")])
    with pytest.raises(InvalidRequest, match="at least two"):
        check_balanced([Posting(wallet(1), 0, "USD")])
    with pytest.raises(InvalidRequest, match="positive"):
        transfer(wallet(1), REVENUE, 0, "USD")


def test_wallet_accounts_name_their_owner() -> None:
    assert wallet_owner(wallet(42)) == 42
    assert wallet_owner(REVENUE) is None
    assert wallet_owner("wallet:x") is None
