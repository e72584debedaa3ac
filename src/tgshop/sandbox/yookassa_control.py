"""Control side of the fake YooKassa: what the payer (a test, or a person on the checkout
page) does, under ``/sandbox/api/yookassa`` — same envelope as the rest of the control API.

Rules: only a pending payment can succeed or be declined (409 otherwise); each change POSTs
the matching notification (``payment.succeeded`` / ``payment.canceled``) to the shop's
notification URL unless ``webhook`` is ``skip``, and answers with the payment and how the
delivery ended. ``forge`` sends a notification that claims an event without changing the
stored payment: a receiver that believes the body instead of re-reading the payment from
the API is caught by it.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tgshop.sandbox.checkout_page import checkout_response, esc, page_data
from tgshop.sandbox.control import ControlError, _body, _endpoint, _field
from tgshop.sandbox.core import Sandbox
from tgshop.sandbox.provider_hooks import HookResult
from tgshop.sandbox.yookassa import YooKassaShop, YooPayment, money, notification

WEBHOOK_MODES = ("send", "skip")
DECLINE_REASON = "card_expired"


async def notify(
    sandbox: Sandbox, shop: YooKassaShop, event: str, payment: dict[str, Any], mode: str
) -> HookResult:
    """POST a notification about ``payment`` (as the API shows it) to the shop."""
    if mode == "skip":
        return HookResult()
    if shop.webhook_url is None:
        return HookResult(error="the shop has no notification URL")
    return await sandbox.provider_hooks.deliver(shop.webhook_url, notification(event, payment), {})


def _mode(data: dict[str, Any]) -> str:
    mode = _field(data, "webhook", str, required=False) or "send"
    if mode not in WEBHOOK_MODES:
        raise ControlError(400, f"webhook must be one of {', '.join(WEBHOOK_MODES)}")
    return str(mode)


def yookassa_control_routes(sandbox: Sandbox) -> list[BaseRoute]:
    kassa = sandbox.yookassa

    def payment_of(request: Request) -> YooPayment:
        payment = kassa.payments.get(request.path_params["payment_id"])
        if payment is None:
            raise ControlError(404, "no such payment")
        return payment

    async def add_shop(request: Request) -> Any:
        data = await _body(request)
        shop = sandbox.add_yookassa_shop(
            _field(data, "shop_id", str),
            _field(data, "secret_key", str),
            _field(data, "webhook_url", str, required=False),
        )
        return {"shop_id": shop.shop_id, "webhook_url": shop.webhook_url}

    async def list_payments(request: Request) -> Any:
        return [payment.to_api() for payment in kassa.payments.values()]

    async def succeed(request: Request) -> Any:
        data, payment = await _body(request), payment_of(request)
        mode = _mode(data)
        try:
            kassa.succeed(payment)
        except LookupError as exc:
            raise ControlError(409, str(exc)) from None
        view = payment.to_api()
        hook = await notify(sandbox, payment.shop, "payment.succeeded", view, mode)
        return {"payment": view, "webhook": hook.to_api()}

    async def cancel(request: Request) -> Any:
        data, payment = await _body(request), payment_of(request)
        mode = _mode(data)
        reason = _field(data, "reason", str, required=False) or DECLINE_REASON
        party = _field(data, "party", str, required=False) or "yoo_money"
        try:
            kassa.decline(payment, reason, party)
        except LookupError as exc:
            raise ControlError(409, str(exc)) from None
        view = payment.to_api()
        hook = await notify(sandbox, payment.shop, "payment.canceled", view, mode)
        return {"payment": view, "webhook": hook.to_api()}

    async def forge(request: Request) -> Any:
        data, payment = await _body(request), payment_of(request)
        event = _field(data, "event", str, required=False) or "payment.succeeded"
        claimed = kassa.imagined(payment, event)
        hook = await notify(sandbox, payment.shop, event, claimed, "send")
        return {"payment": payment.to_api(), "webhook": hook.to_api(), "claimed": claimed}

    payment_path = "/yookassa/payments/{payment_id}"
    return [
        Route("/yookassa/shops", _endpoint(add_shop), methods=["POST"]),
        Route("/yookassa/payments", _endpoint(list_payments), methods=["GET"]),
        Route(f"{payment_path}/succeed", _endpoint(succeed), methods=["POST"]),
        Route(f"{payment_path}/cancel", _endpoint(cancel), methods=["POST"]),
        Route(f"{payment_path}/forge", _endpoint(forge), methods=["POST"]),
    ]


_SCRIPT = """
const D = JSON.parse(document.getElementById('data').textContent);
const out = document.getElementById('result');
const buttons = [...document.querySelectorAll('button')];
async function act(url) {
  buttons.forEach(b => { b.disabled = true; });
  out.textContent = 'Working…';
  try {
    const answer = await fetch(url, {method: 'POST', headers: {'Content-Type':
      'application/json'}, body: '{}'});
    const data = await answer.json();
    if (!data.ok) { out.textContent = 'Refused: ' + data.error; return; }
    document.getElementById('status').textContent = data.result.payment.status;
    out.textContent = data.result.payment.status === 'succeeded'
      ? 'Payment accepted. Returning to the shop…' : 'Payment declined. Returning…';
    setTimeout(() => { window.location.href = D.back; }, 800);
  } catch (error) {
    out.textContent = 'Failed: ' + error;
    buttons.forEach(b => { b.disabled = false; });
  }
}
const payButton = document.getElementById('pay');
if (payButton) payButton.addEventListener('click', () => act(D.succeed));
const declineButton = document.getElementById('decline');
if (declineButton) declineButton.addEventListener('click', () => act(D.cancel));
"""


def _payment_body(payment: YooPayment, data: dict[str, Any]) -> str:
    price = money(payment.amount, payment.currency)
    if payment.status == "pending":
        actions = (
            "<div class=actions><button id=pay class=primary>Pay</button>"
            "<button id=decline>Decline</button></div>"
        )
    else:
        actions = f'<p class=row><a href="{esc(payment.return_url)}">Back to the shop</a></p>'
    return (
        "<h1>ЮKassa</h1><div class=brand>Shop "
        f"{esc(payment.shop.shop_id)} · test payment · sandbox</div>"
        f"<div class=amount>{esc(price['value'])} {esc(price['currency'])}</div>"
        f"<p class=row>{esc(payment.description or '')}</p>"
        "<p class=row>Card: 4111 1111 1111 4444 · 12/30</p>"
        f"<p class=row>Status: <span id=status class=status>{esc(payment.status)}</span></p>"
        f"{actions}<p id=result></p>"
        f"<script type=application/json id=data>{page_data(data)}</script>"
    )


def yookassa_page_routes(sandbox: Sandbox) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        payment = sandbox.yookassa.payments.get(request.path_params["payment_id"])
        if payment is None:
            return checkout_response(
                "Payment not found", "<h1>Payment not found</h1>", "", status=404
            )
        control = f"{request.base_url}sandbox/api/yookassa/payments/{payment.id}"
        data = {
            "succeed": f"{control}/succeed",
            "cancel": f"{control}/cancel",
            "back": payment.return_url,
        }
        return checkout_response("YooKassa checkout", _payment_body(payment, data), _SCRIPT)

    return [Route("/sandbox/yookassa/checkout/{payment_id}", page, methods=["GET"])]
