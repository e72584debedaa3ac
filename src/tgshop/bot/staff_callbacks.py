"""Callback data of the staff buttons: drawn by the new-order job (jobs/notify.py) and the
staff router, handled by the staff router (bot/routers/staff.py).

Each order button carries the status the order had when it was drawn, so a press on a stale
card is recognised and refused instead of acting on a picture that is no longer true.
"""

from __future__ import annotations

from aiogram.filters.callback_data import CallbackData

from tgshop.domain.orders import OrderStatus

STAFF_ORDER_PREFIX = "so"


class StaffOrderAction(CallbackData, prefix=STAFF_ORDER_PREFIX):
    """Move order ``order_id`` from ``seen`` to ``target``; ``sure`` once a cancel is
    confirmed (the first tap on Cancel only asks)."""

    order_id: int
    seen: OrderStatus
    target: OrderStatus
    sure: bool = False


class StaffOrderShow(CallbackData, prefix="sv"):
    """Redraw the card of ``order_id`` as it is now ("No, keep it" after Cancel)."""

    order_id: int


class MaintenanceSwitch(CallbackData, prefix="mnt"):
    """Turn maintenance mode on or off (the wanted state, so a double tap is harmless)."""

    enabled: bool


class AdminRefresh(CallbackData, prefix="adm"):
    """Redraw the /admin screen with fresh figures."""


class RefundDecision(CallbackData, prefix="rf"):
    """Decide refund ``refund_id``: ``all`` approves what was asked, ``part`` asks the staff
    member for an amount, ``no`` asks them for the reason to tell the customer."""

    refund_id: int
    action: str


class GatewayModeSwitch(CallbackData, prefix="gm"):
    """Put ``gateway`` in ``mode`` (the wanted mode, so a double tap is harmless)."""

    gateway: str
    mode: str
