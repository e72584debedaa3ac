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
from tgshop.jobs.payment_jobs import notify_late_payment, refund_payment
from tgshop.services.orders import (
    NOTIFY_CUSTOMER_STATUS,
    NOTIFY_MANAGER_NEW_ORDER,
    NOTIFY_MANAGER_STATUS,
)
from tgshop.services.payments import NOTIFY_LATE_PAYMENT, REFUND_PAYMENT
from tgshop.services.ports import TelegramClient


class HandlerDeps(Protocol):
    """What the handlers need from the composition root (``tgshop.app.Container`` has it)."""

    @property
    def settings(self) -> Settings: ...

    @property
    def db(self) -> Database: ...

    @property
    def telegram(self) -> TelegramClient | None: ...


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

    async def refund(job: Job) -> None:
        await refund_payment(deps, job)

    return {
        NOTIFY_LATE_PAYMENT: late_payment,
        REFUND_PAYMENT: refund,
        NOTIFY_MANAGER_NEW_ORDER: manager_new_order,
        NOTIFY_CUSTOMER_STATUS: customer_order_status,
        NOTIFY_MANAGER_STATUS: manager_order_status,
    }
