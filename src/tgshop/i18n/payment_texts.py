"""The words on a Telegram invoice, the same from the bot and from the Mini App."""

from __future__ import annotations

from typing import Protocol

from tgshop.domain.money import Money
from tgshop.i18n.translator import Translations


class InvoiceLike(Protocol):
    @property
    def order_number(self) -> str: ...

    @property
    def from_balance(self) -> Money | None: ...


def invoice_texts(t: Translations, invoice: InvoiceLike) -> tuple[str, str, str]:
    """(title, description, price label) of an order's invoice, in the customer's language."""
    number = invoice.order_number
    description = t.gettext("bot.pay.invoice_description", number=number)
    if invoice.from_balance is not None:
        description = t.gettext(
            "bot.pay.invoice_description_mixed", number=number, balance=str(invoice.from_balance)
        )
    return t.gettext("bot.pay.invoice_title", number=number), description, number or "order"
