"""Errors as ``application/problem+json`` (RFC 9457).

Every error answer has ``type``, ``title``, ``status``, ``detail``, ``instance`` (the request
path, without the query string, which may carry credentials) and ``request_id``, plus
members specific to the problem: ``errors`` for invalid input (which field, what is wrong),
``shortages`` when stock is short, ``code`` for a refused use case.

Rules: a refused use case (:class:`~tgshop.domain.errors.DomainError`) says why in its own
words; an unexpected failure says nothing about its cause — no exception text, no
traceback — only an error id (the request id) to quote to support, while the log line with
the same id holds the traceback.
"""

from __future__ import annotations

from dataclasses import asdict
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from tgshop.domain.delivery import DeliveryProblem
from tgshop.domain.errors import (
    ConcurrentChange,
    DomainError,
    EmptyCart,
    IllegalTransition,
    InvalidRequest,
    NotFound,
    OutOfStock,
    PriceChanged,
)
from tgshop.domain.payments import NotPayable
from tgshop.services.ledger import InsufficientFunds
from tgshop.services.ports import ProviderError, TelegramSendError
from tgshop.services.refund_requests import RefundRefused

_log = structlog.get_logger("tgshop.api")

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:tgshop:problem:"
UNEXPECTED_DETAIL = "Something went wrong on our side. If it keeps happening, report the error id."

# Most specific class first: the first isinstance match wins.
_DOMAIN_STATUS: tuple[tuple[type[DomainError], HTTPStatus, str], ...] = (
    (NotFound, HTTPStatus.NOT_FOUND, "Not found"),
    (OutOfStock, HTTPStatus.CONFLICT, "Not enough stock"),
    (IllegalTransition, HTTPStatus.CONFLICT, "Not allowed in the current state"),
    (ConcurrentChange, HTTPStatus.CONFLICT, "Changed meanwhile"),
    (PriceChanged, HTTPStatus.CONFLICT, "The total has changed"),
    (InsufficientFunds, HTTPStatus.CONFLICT, "Not enough on the balance"),
    (NotPayable, HTTPStatus.CONFLICT, "Cannot be paid this way"),
    (RefundRefused, HTTPStatus.CONFLICT, "No refund can be asked for"),
    (EmptyCart, HTTPStatus.BAD_REQUEST, "The cart is empty"),
    (InvalidRequest, HTTPStatus.BAD_REQUEST, "Invalid request"),
)


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE


def problem(
    status: int,
    *,
    detail: str,
    instance: str,
    request_id: str | None,
    title: str | None = None,
    type_: str = "about:blank",
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> ProblemResponse:
    status = int(status)  # an HTTPStatus would reach the log and the ASGI message as an enum
    body: dict[str, Any] = {
        "type": type_,
        "title": title or _phrase(status),
        "status": status,
        "detail": detail,
        "instance": instance,
        "request_id": request_id,
        **extensions,
    }
    return ProblemResponse(body, status_code=status, headers=headers)


def unexpected_error(instance: str, request_id: str) -> ProblemResponse:
    """The answer to an unhandled exception: generic, with the request id as error id."""
    return problem(
        HTTPStatus.INTERNAL_SERVER_ERROR,
        detail=UNEXPECTED_DETAIL,
        instance=instance,
        request_id=request_id,
        error_id=request_id,
    )


def request_id_of(request: Request) -> str | None:
    """The id the request-context middleware gave this request."""
    return getattr(request.state, "request_id", None)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(DomainError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(ProviderError, _unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(TelegramSendError, _unavailable)  # type: ignore[arg-type]


async def _http_exception(request: Request, exc: HTTPException) -> ProblemResponse:
    extensions: dict[str, Any] = {}
    if isinstance(exc.detail, str):
        detail = exc.detail
    else:  # FastAPI lets a route raise a structured detail; keep it, the RFC wants a string.
        detail = _phrase(exc.status_code)
        extensions["errors"] = exc.detail
    return problem(
        exc.status_code,
        detail=detail,
        instance=request.url.path,
        request_id=request_id_of(request),
        headers=dict(exc.headers) if exc.headers else None,
        **extensions,
    )


async def _validation_error(request: Request, exc: RequestValidationError) -> ProblemResponse:
    # The offending input is deliberately not echoed: it may be a secret or personal data.
    errors = [
        {"field": _field_path(error.get("loc", ())), "message": error.get("msg", "invalid")}
        for error in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or "invalid request"
    return problem(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        title="Invalid request",
        type_=PROBLEM_TYPE_PREFIX + "validation_error",
        detail=detail,
        instance=request.url.path,
        request_id=request_id_of(request),
        errors=errors,
    )


async def _domain_error(request: Request, exc: DomainError) -> ProblemResponse:
    status, title = HTTPStatus.BAD_REQUEST, "Request refused"
    for cls, cls_status, cls_title in _DOMAIN_STATUS:
        if isinstance(exc, cls):
            status, title = cls_status, cls_title
            break
    extensions: dict[str, Any] = {"code": exc.code}
    if isinstance(exc, OutOfStock):
        extensions["shortages"] = [asdict(shortage) for shortage in exc.shortages]
    elif isinstance(exc, NotPayable):
        extensions["reason"] = exc.reason
    elif isinstance(exc, DeliveryProblem):
        extensions.update(field=exc.field, reason=exc.reason, limits=exc.params)
    elif isinstance(exc, InsufficientFunds):
        extensions["balance"] = {"amount": exc.available, "currency": exc.currency}
    elif isinstance(exc, RefundRefused):
        extensions["refused"] = [
            {
                "number": item.number,
                "reason": item.reason.value,
                "closed_at": item.closed_at.isoformat() if item.closed_at else None,
            }
            for item in exc.refused
        ]
    return problem(
        status,
        title=title,
        type_=PROBLEM_TYPE_PREFIX + exc.code,
        detail=exc.message,
        instance=request.url.path,
        request_id=request_id_of(request),
        **extensions,
    )


async def _unavailable(request: Request, exc: ProviderError | TelegramSendError) -> ProblemResponse:
    """A payment service or Telegram did not do what we asked: say so, never its words
    (they may name our credentials), and let the client try again."""
    _log.warning("api.service_unavailable", error=str(exc), path=request.url.path)
    return problem(
        HTTPStatus.SERVICE_UNAVAILABLE,
        type_=PROBLEM_TYPE_PREFIX + "service_unavailable",
        detail="The payment service did not answer. Please try again in a moment.",
        instance=request.url.path,
        request_id=request_id_of(request),
        headers={"Retry-After": "5"},
    )


def _field_path(loc: Any) -> str:
    """("body", "items", 0, "quantity") -> "body.items[0].quantity"."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "request"


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
