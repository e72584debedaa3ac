"""Message text and captions: parse_mode HTML parsed as Telegram does, limits enforced."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tgshop.sandbox.entities import TextError, normalize_text, render_text, visible_length
from tgshop.sandbox.errors import ApiError, bad_request
from tgshop.sandbox.params import Params
from tgshop.sandbox.state import Account

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024


def _parse(params: Params, field: str, entities_field: str) -> tuple[str, list[dict[str, Any]]]:
    raw = params.str(field) or ""
    mode = params.str("parse_mode")
    if not mode and params.has(entities_field):
        entities = params.json(entities_field, [])
        if not isinstance(entities, list):
            raise bad_request(f"can't parse {entities_field} JSON object")
        return normalize_text(raw), entities
    try:
        return render_text(raw, mode)
    except TextError as exc:
        raise ApiError(400, exc.description) from None
    except NotImplementedError as exc:
        raise bad_request(str(exc)) from None


def _with_mentioned_users(
    entities: list[dict[str, Any]], users: Mapping[int, Account]
) -> list[dict[str, Any]]:
    """A text_mention carries the whole User; one of a person nobody knows is dropped."""
    resolved = []
    for entity in entities:
        if entity.get("type") == "text_mention":
            user = users.get(int((entity.get("user") or {}).get("id", 0)))
            if user is None:
                continue
            entity = {**entity, "user": user.to_api()}
        resolved.append(entity)
    return resolved


def message_text(params: Params, users: Mapping[int, Account]) -> tuple[str, list[dict[str, Any]]]:
    text, entities = _parse(params, "text", "entities")
    entities = _with_mentioned_users(entities, users)
    if not text:
        raise bad_request("message text is empty")
    if visible_length(text) > TEXT_LIMIT:
        raise bad_request("message is too long")
    return text, entities


def caption(
    params: Params, users: Mapping[int, Account]
) -> tuple[str | None, list[dict[str, Any]]]:
    if not params.has("caption"):
        return None, []
    text, entities = _parse(params, "caption", "caption_entities")
    entities = _with_mentioned_users(entities, users)
    if visible_length(text) > CAPTION_LIMIT:
        raise bad_request("message caption is too long")
    return text, entities
