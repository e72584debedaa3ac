"""Where external payment providers report (``POST /payments/{gateway}/webhook``) and where
a customer lands after paying on a provider's page (``GET /payments/return``).

Rules:
- the route only hands the raw body, the headers and the sender's address to the use case:
  the adapter decides what it believes (a signature, or a re-read from the provider's API);
- a notification that is not believed gets the adapter's status (401 bad or missing
  signature, 403 address not allowed, 400 not a notification) and changes nothing;
- when the provider could not be asked to confirm, the answer is 503 so the provider sends
  the notification again later; anything taken in, or not for us, is a 200;
- an unknown or unconfigured gateway is a 404.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from tgshop.api.problems import problem, request_id_of
from tgshop.domain.errors import NotFound
from tgshop.services.ports import ProviderError, WebhookRejected

if TYPE_CHECKING:
    from tgshop.app import Container

log = structlog.get_logger("tgshop.payments.webhook")


def build_payment_webhook_router(container: Container) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    providers = container.provider_payments

    def _problem(request: Request, status: int, detail: str) -> Response:
        return problem(
            status, detail=detail, instance=request.url.path, request_id=request_id_of(request)
        )

    @router.post("/payments/{gateway}/webhook")
    async def payment_webhook(gateway: str, request: Request) -> Response:
        body = await request.body()
        client_ip = request.client.host if request.client else None
        try:
            taken = await providers.webhook(gateway, body, request.headers, client_ip)
        except NotFound as missing:
            return _problem(request, 404, str(missing))
        except WebhookRejected as rejected:
            log.warning(
                "payment.webhook_rejected",
                gateway=gateway,
                reason=rejected.reason,
                client_ip=client_ip,
            )
            return _problem(request, rejected.status, rejected.reason)
        except ProviderError as failed:
            log.warning("payment.webhook_unconfirmed", gateway=gateway, error=str(failed))
            return _problem(
                request, 503, f"could not confirm with {gateway}, send it again: {failed}"
            )
        return JSONResponse({"ok": True, "state": taken.state.value if taken else "ignored"})

    @router.get("/payments/return")
    async def payment_return(request: Request) -> HTMLResponse:
        t = container.translator.get(request.headers.get("accept-language", "")[:2])
        title = html.escape(t.gettext("web.payment_return.title"))
        text = html.escape(t.gettext("web.payment_return.text"))
        page = (
            f'<!doctype html><html lang="{t.locale}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{title}</title></head>"
            '<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;'
            f'padding:0 1rem"><h1>{title}</h1><p>{text}</p></body></html>'
        )
        return HTMLResponse(page)

    return router
