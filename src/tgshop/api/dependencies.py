"""FastAPI dependencies shared by the routers."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from fastapi import Request

if TYPE_CHECKING:
    from tgshop.app import Container


def get_container(request: Request) -> Container:
    """The container the app was built over (``Depends(get_container)``)."""
    return cast("Container", request.app.state.container)
