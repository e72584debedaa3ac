"""The registry of job kinds: which async handler runs which outbox job.

A kind missing from the registry is not retried: the worker marks such a job dead with a
clear ``last_error`` (a typo or a removed feature should be seen, not looped on).
"""

from __future__ import annotations

from typing import Protocol

from tgshop.config import Settings
from tgshop.db.engine import Database
from tgshop.i18n import Translator
from tgshop.jobs.job import Handler, Job
from tgshop.jobs.notify import (
    NotifyDeps,
    notify_customer_order_status,
    notify_manager_new_order,
    notify_manager_order_status,
)
from tgshop.jobs.payment_jobs import (
    notify_late_payment,
    notify_payment_failed,
    notify_topped_up,
    refund_payment,
)
from tgshop.jobs.refund_jobs import notify_customer_refund, notify_manager_refund
from tgshop.services.gateway_modes import Providers
from tgshop.services.orders import (
    NOTIFY_CUSTOMER_STATUS,
    NOTIFY_MANAGER_NEW_ORDER,
    NOTIFY_MANAGER_STATUS,
)
from tgshop.services.payments import NOTIFY_LATE_PAYMENT, NOTIFY_TOPPED_UP, REFUND_PAYMENT
from tgshop.services.ports import Clock, TelegramClient
from tgshop.services.provider_payments import NOTIFY_PAYMENT_FAILED
from tgshop.services.refund_requests import (
    NOTIFY_CUSTOMER_REFUND,
    NOTIFY_MANAGER_REFUND,
    RefundRequests,
)
from tgshop.services.refunds import RefundService


class HandlerDeps(Protocol):
    """What the handlers need from the composition root (``tgshop.app.Container`` has it)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...

    @property
    def telegram(self) -> TelegramClient | None: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def providers(self) -> Providers: ...


def default_handlers(
    container: HandlerDeps, translator: Translator | None = None
) -> dict[str, Handler]:
    """Every job kind tgshop enqueues, bound to the container's adapters.

    The catalogs are read here (once, at startup) unless a ``translator`` is given.
    """
    deps = NotifyDeps(
        db=container.db,
        telegram=container.telegram,
        translator=translator or Translator.load(),
        manager_chat_id=container.settings.telegram.manager_chat_id,
    )

    async def manager_new_order(job: Job) -> None:
        await notify_manager_new_order(deps, job)

    async def customer_order_status(job: Job) -> None:
        await notify_customer_order_status(deps, job)

    async def manager_order_status(job: Job) -> None:
        await notify_manager_order_status(deps, job)

    async def late_payment(job: Job) -> None:
        await notify_late_payment(deps, job)

    async def payment_failed(job: Job) -> None:
        await notify_payment_failed(deps, job)

    async def topped_up(job: Job) -> None:
        await notify_topped_up(deps, job)

    refunds = RefundService(container.db, container.clock, container.telegram, container.providers)

    async def refund(job: Job) -> None:
        await refund_payment(deps, refunds, job)

    settings = container.settings
    requests = RefundRequests(container.db, container.clock, settings.shop, settings.payments)

    async def manager_refund(job: Job) -> None:
        await notify_manager_refund(deps, requests, job)

    async def customer_refund(job: Job) -> None:
        await notify_customer_refund(deps, requests, job)

    return {
        NOTIFY_LATE_PAYMENT: late_payment,
        REFUND_PAYMENT: refund,
        NOTIFY_MANAGER_REFUND: manager_refund,
        NOTIFY_CUSTOMER_REFUND: customer_refund,
        NOTIFY_PAYMENT_FAILED: payment_failed,
        NOTIFY_TOPPED_UP: topped_up,
        NOTIFY_MANAGER_NEW_ORDER: manager_new_order,
        NOTIFY_CUSTOMER_STATUS: customer_order_status,
        NOTIFY_MANAGER_STATUS: manager_order_status,
    }
