"""Schemathesis against our own OpenAPI schema: requests generated from every operation of
/api/v1 (valid and invalid parameters and bodies, signed in and not) must never get a server
error, and every answer must be one the schema documents with the status it has.

The cases are drawn by schemathesis's hypothesis strategies; the calls go through httpx to
our app in process (the database fixture's event loop is the app's). SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from tests.integration.test_api_v1 import ANN, TOKEN
from tests.support.factories import make_category, make_product
from tests.support.fakes import FrozenClock, RecordingTelegram
from tgshop.api.app import create_http_app
from tgshop.app import build_container
from tgshop.config import Settings
from tgshop.db.engine import Database
from tgshop.sandbox.webapp import sign_init_data

pytestmark = pytest.mark.timeout(240)

CASES_PER_OPERATION = 25


def _draw(strategy: st.SearchStrategy[Any], count: int) -> list[Any]:
    """``count`` cases of a schemathesis strategy, drawn by hypothesis (no I/O here: the
    calls are made afterwards, on the test's event loop)."""
    drawn: list[Any] = []

    @settings(
        max_examples=count,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
    )
    @given(strategy)
    def collect(case: Any) -> None:
        drawn.append(case)

    # Unsatisfiable: nothing invalid can be made for it (e.g. it takes no parameters).
    with contextlib.suppress(Unsatisfiable):
        collect()
    return drawn


async def test_no_operation_of_the_api_answers_with_a_server_error(
    make_settings: Callable[..., Settings],
    db: Database,
    db_url: str,
    clock: FrozenClock,
    telegram: RecordingTelegram,
) -> None:
    settings = make_settings(
        database={"url": db_url},
        telegram={"bot_token": TOKEN},
        payments={"stars_rate": "10"},
        api={"rate_limit_ip": "", "rate_limit_user": ""},
    )
    container = build_container(settings, db=db, clock=clock, telegram=telegram)
    app = create_http_app(container)
    tea = await make_category(db, "Tea")
    await make_product(db, "Sencha", category_id=tea.id, variants=[("100 g", 500, 4)])
    signed = "tma " + sign_init_data(TOKEN, ANN, auth_date=int(clock.now().timestamp()))
    schema = schemathesis.openapi.from_dict(app.openapi())
    failures: list[str] = []
    calls = 0
    statuses: Counter[int] = Counter()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        for result in schema.get_all_operations():
            operation = result.ok()
            if not operation.path.startswith("/api/v1"):
                continue
            cases = [
                case
                for mode in (
                    schemathesis.GenerationMode.POSITIVE,
                    schemathesis.GenerationMode.NEGATIVE,
                )
                for case in _draw(operation.as_strategy(mode), CASES_PER_OPERATION)
            ]
            for n, case in enumerate(cases):
                kwargs = case.as_transport_kwargs(base_url="http://testserver")
                headers = dict(kwargs.get("headers") or {})
                if n % 2 == 0:  # half the cases signed in, to reach past the sign-in
                    headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
                    headers["Authorization"] = signed
                try:
                    answer = await client.request(
                        kwargs["method"],
                        kwargs["url"],
                        params=kwargs.get("params"),
                        headers=headers,
                        json=kwargs.get("json"),
                        content=kwargs.get("data")
                        if isinstance(kwargs.get("data"), bytes)
                        else None,
                    )
                except (httpx.InvalidURL, UnicodeEncodeError):
                    continue  # not a request an HTTP client can send
                calls += 1
                statuses[answer.status_code] += 1
                documented = operation.definition.raw.get("responses", {})
                if answer.status_code >= 500:
                    failures.append(
                        f"{kwargs['method']} {answer.request.url} → {answer.status_code}: "
                        f"{answer.text[:300]}"
                    )
                elif str(answer.status_code) not in documented and answer.status_code not in (
                    400,
                    401,
                    404,
                    409,
                    422,
                    429,
                ):
                    failures.append(
                        f"{kwargs['method']} {answer.request.url} → undocumented "
                        f"{answer.status_code}"
                    )
    assert calls >= 15 * 5, f"only {calls} calls were made"
    # Both sides were reached: answers that did the work, and refusals of bad input.
    assert statuses[200] and statuses[422] and statuses[401], statuses
    assert failures == [], "\n".join(failures[:10])
