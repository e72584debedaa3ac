"""Control side of the fake CryptoBot: what the payer (a test, or a person on the checkout
page) does, under ``/sandbox/api/cryptobot`` — same envelope as the rest of the control API.

Rules: only an active invoice can be paid or expired (409 otherwise); paying POSTs the
``invoice_paid`` update to the app's webhook URL and answers with the invoice and how the
delivery ended. ``webhook`` picks the delivery: ``send`` (signed), ``skip`` (the update is
lost, as when CryptoBot gives up), ``bad_signature`` (signed with the wrong key) or
``no_signature`` (no header) — the last two let a test prove the shop rejects forgeries.
Expiring sends nothing: CryptoBot's only webhook is ``invoice_paid``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from tgshop.sandbox.checkout_page import checkout_response, esc, page_data
from tgshop.sandbox.control import ControlError, _body, _endpoint, _field
from tgshop.sandbox.core import Sandbox
from tgshop.sandbox.cryptopay import CryptoInvoice, decimal_text, sign
from tgshop.sandbox.provider_hooks import HookResult

WEBHOOK_MODES = ("send", "skip", "bad_signature", "no_signature")


async def notify_paid(sandbox: Sandbox, invoice: CryptoInvoice, mode: str) -> HookResult:
    """POST ``invoice_paid`` for a paid invoice the way ``mode`` says."""
    url = invoice.app.webhook_url
    if mode == "skip":
        return HookResult()
    if url is None:
        return HookResult(error="the app has no webhook URL")
    body = sandbox.cryptopay.paid_update(invoice)
    headers: dict[str, str] = {}
    if mode == "send":
        headers["crypto-pay-api-signature"] = sign(invoice.app.token, body)
    elif mode == "bad_signature":
        # Well-formed hex from the wrong key: only a receiver that checks the HMAC notices.
        headers["crypto-pay-api-signature"] = sign(invoice.app.token + "-wrong", body)
    return await sandbox.provider_hooks.deliver(url, body, headers)


def cryptopay_control_routes(sandbox: Sandbox) -> list[BaseRoute]:
    pay = sandbox.cryptopay

    def invoice_of(request: Request) -> CryptoInvoice:
        invoice = pay.invoices.get(request.path_params["invoice_id"])
        if invoice is None:
            raise ControlError(404, "no such invoice")
        return pay.current(invoice)

    async def add_app(request: Request) -> Any:
        data = await _body(request)
        app = sandbox.add_crypto_app(
            _field(data, "token", str),
            _field(data, "webhook_url", str, required=False),
            name=_field(data, "name", str, required=False) or "Sandbox Shop",
        )
        return {**app.to_api(), "token": app.token, "webhook_url": app.webhook_url}

    async def list_invoices(request: Request) -> Any:
        return [pay.current(invoice).to_api() for invoice in pay.invoices.values()]

    async def pay_invoice(request: Request) -> Any:
        data, invoice = await _body(request), invoice_of(request)
        mode = _field(data, "webhook", str, required=False) or "send"
        if mode not in WEBHOOK_MODES:
            raise ControlError(400, f"webhook must be one of {', '.join(WEBHOOK_MODES)}")
        try:
            pay.pay(
                invoice,
                _field(data, "asset", str, required=False),
                comment=_field(data, "comment", str, required=False),
                anonymous=_field(data, "anonymous", bool, required=False) or False,
            )
        except LookupError as exc:
            raise ControlError(409, str(exc)) from None
        hook = await notify_paid(sandbox, invoice, mode)
        return {"invoice": invoice.to_api(), "webhook": hook.to_api()}

    async def expire_invoice(request: Request) -> Any:
        invoice = invoice_of(request)
        try:
            pay.expire(invoice)
        except LookupError as exc:
            raise ControlError(409, str(exc)) from None
        return {"invoice": invoice.to_api()}

    invoice_path = "/cryptobot/invoices/{invoice_id:int}"
    return [
        Route("/cryptobot/apps", _endpoint(add_app), methods=["POST"]),
        Route("/cryptobot/invoices", _endpoint(list_invoices), methods=["GET"]),
        Route(f"{invoice_path}/pay", _endpoint(pay_invoice), methods=["POST"]),
        Route(f"{invoice_path}/expire", _endpoint(expire_invoice), methods=["POST"]),
    ]


_SCRIPT = """
const D = JSON.parse(document.getElementById('data').textContent);
const out = document.getElementById('result');
const buttons = [...document.querySelectorAll('button')];
async function act(url, body) {
  buttons.forEach(b => { b.disabled = true; });
  out.textContent = 'Working…';
  try {
    const answer = await fetch(url, {method: 'POST', headers: {'Content-Type':
      'application/json'}, body: JSON.stringify(body)});
    const data = await answer.json();
    if (!data.ok) { out.textContent = 'Refused: ' + data.error; return; }
    const invoice = data.result.invoice, hook = data.result.webhook;
    document.getElementById('status').textContent = invoice.status;
    let text = invoice.status === 'paid'
      ? 'Paid ' + invoice.paid_amount + ' ' + invoice.paid_asset + '.'
      : 'The invoice expired.';
    if (hook) {
      text += hook.error ? ' Webhook: ' + hook.error : ' Webhook answered HTTP ' + hook.status;
    }
    out.textContent = text;
    if (invoice.status === 'paid' && D.back) {
      const link = document.createElement('a');
      link.href = D.back; link.textContent = ' Back to the shop';
      out.append(link);
    }
  } catch (error) {
    out.textContent = 'Failed: ' + error;
    buttons.forEach(b => { b.disabled = false; });
  }
}
const payButton = document.getElementById('pay');
if (payButton) payButton.addEventListener('click', () => {
  const select = document.getElementById('asset');
  act(D.pay, select ? {asset: select.value} : {});
});
const expireButton = document.getElementById('expire');
if (expireButton) expireButton.addEventListener('click', () => act(D.expire, {}));
"""


def _invoice_body(invoice: CryptoInvoice, data: dict[str, Any]) -> str:
    if invoice.currency_type == "fiat":
        price = f"{decimal_text(invoice.amount)} {invoice.fiat}"
        options = "".join(f"<option>{esc(a)}</option>" for a in invoice.accepted_assets)
        choice = f"<p class=row>Pay in <select id=asset>{options}</select></p>"
    else:
        price, choice = f"{decimal_text(invoice.amount)} {invoice.asset}", ""
    actions = (
        "<div class=actions><button id=pay class=primary>Pay</button>"
        "<button id=expire>Let it expire</button></div>"
        if invoice.status == "active"
        else ""
    )
    return (
        "<h1>Crypto Bot</h1><div class=brand>Invoice "
        f"#{invoice.invoice_id} · {esc(invoice.app.name)} · testnet sandbox</div>"
        f"<div class=amount>{esc(price)}</div>"
        f"<p class=row>{esc(invoice.description or '')}</p>"
        f"<p class=row>Status: <span id=status class=status>{esc(invoice.status)}</span></p>"
        f"{choice if invoice.status == 'active' else ''}{actions}<p id=result></p>"
        f"<script type=application/json id=data>{page_data(data)}</script>"
    )


def cryptopay_page_routes(sandbox: Sandbox) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        invoice = sandbox.cryptopay.by_hash(request.path_params["hash"])
        if invoice is None:
            return checkout_response(
                "Invoice not found", "<h1>Invoice not found</h1>", "", status=404
            )
        control = f"{request.base_url}sandbox/api/cryptobot/invoices/{invoice.invoice_id}"
        data = {"pay": f"{control}/pay", "expire": f"{control}/expire", "back": None}
        if invoice.paid_btn_url:
            data["back"] = invoice.paid_btn_url
        return checkout_response("Crypto Bot invoice", _invoice_body(invoice, data), _SCRIPT)

    return [Route("/sandbox/cryptobot/pay/{hash}", page, methods=["GET"])]
