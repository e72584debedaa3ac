"""Refund requests in the chats: the manager chat's card with the decision buttons, and the
customer's message when staff decide.

The card reads the staff language (like the order cards); the customer reads their own.
Every customer- or staff-supplied string (names, reasons, order numbers) is escaped.
"""

from __future__ import annotations

import structlog

from tgshop.bot.staff_callbacks import RefundDecision
from tgshop.domain.errors import NotFound
from tgshop.domain.refunds import RefundState
from tgshop.i18n import Translations
from tgshop.jobs.job import Job, PermanentJobError
from tgshop.jobs.notify import NotifyDeps, _client, _e, _label, _payload_int, locale_of
from tgshop.services.ports import InlineButton, InlineButtons
from tgshop.services.refund_requests import RefundCard, RefundRequests

log = structlog.get_logger("tgshop.jobs.refunds")


def format_refund_card(card: RefundCard, t: Translations) -> str:
    """The manager chat's card of a refund (HTML): what is asked, by whom, why, and what
    became of it."""
    title = "staff.refund.title_staff" if card.by_staff else "staff.refund.title"
    lines = [
        t.gettext(title, number=_e(card.number)),
        "",
        t.gettext("staff.refund.customer", name=_e(card.customer_name or "—")),
    ]
    if card.customer_username:
        lines.append(t.gettext("notify.new_order.username", username=_e(card.customer_username)))
    lines += [
        t.gettext("notify.new_order.telegram_id", telegram_id=card.customer_telegram_id),
        t.gettext(
            "staff.refund.amount",
            amount=_e(card.amount),
            total=_e(card.order_total),
            gateway=_e(_label(t, "payment.gateway", card.gateway)),
        ),
        t.gettext("staff.refund.reason", reason=_e(card.reason)),
        "",
    ]
    who = _e(card.decided_by or "—")
    if card.status is RefundState.REQUESTED:
        lines.append(t.gettext("staff.refund.waiting"))
    elif card.status is RefundState.REJECTED:
        lines.append(t.gettext("staff.refund.rejected", who=who, note=_e(card.note or "")))
    else:
        state = _e(_label(t, "refund.status", card.status.value))
        lines.append(t.gettext("staff.refund.approved", who=who, state=state))
    return "\n".join(lines)


def refund_buttons(card: RefundCard, t: Translations) -> InlineButtons:
    """Approve what was asked, another amount, or decline; none once decided."""
    if card.status is not RefundState.REQUESTED:
        return []

    def button(key: str, action: str) -> InlineButton:
        data = RefundDecision(refund_id=card.id, action=action).pack()
        return InlineButton(t.gettext(key, amount=str(card.amount)), data)

    return [
        [button("staff.refund.button.all", "all")],
        [button("staff.refund.button.part", "part"), button("staff.refund.button.no", "no")],
    ]


async def _card(requests: RefundRequests, job: Job) -> RefundCard:
    refund_id = _payload_int(job, "refund_id")
    try:
        return await requests.card(refund_id)
    except NotFound:
        raise PermanentJobError(f"refund {refund_id} does not exist") from None


async def notify_manager_refund(deps: NotifyDeps, requests: RefundRequests, job: Job) -> None:
    """Job ``notify_manager_refund_request`` — payload ``{"refund_id": int}``: the card with
    the decision buttons, drawn as the refund is when the job runs."""
    card = await _card(requests, job)
    if deps.manager_chat_id is None:
        log.warning(
            "notify.no_manager_chat",
            refund_id=card.id,
            hint="set TGSHOP_MANAGER_CHAT_ID to decide refund requests in a chat",
        )
        return
    t = deps.translator.get(deps.staff_locale)
    await _client(deps).send_message(
        deps.manager_chat_id,
        format_refund_card(card, t),
        buttons=refund_buttons(card, t) or None,
    )


async def notify_customer_refund(deps: NotifyDeps, requests: RefundRequests, job: Job) -> None:
    """Job ``notify_customer_refund_decision`` — payload ``{"refund_id", "decision"}``:
    the customer hears that their refund was approved (and where the money will go) or
    declined (and why)."""
    card = await _card(requests, job)
    decision = job.payload.get("decision")
    if decision not in (RefundState.APPROVED.value, RefundState.REJECTED.value):
        raise PermanentJobError(f"payload.decision: approved or rejected, got {decision!r}")
    t = deps.translator.get(locale_of(card.customer_language))
    if decision == RefundState.REJECTED.value:
        text = t.gettext("notify.refund.rejected", number=_e(card.number), note=_e(card.note or ""))
    else:
        where = "balance" if card.to_balance else "gateway"
        text = t.gettext(
            f"notify.refund.approved.{where}", number=_e(card.number), amount=_e(card.amount)
        )
    await _client(deps).send_message(card.customer_telegram_id, text, parse_mode="HTML")
