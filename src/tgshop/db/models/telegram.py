from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from tgshop.db.models.base import Base, JsonType, UtcDateTime


class ProcessedUpdate(Base):
    """Telegram update ids already taken in (Telegram re-delivers on slow or failed answers);
    used when no Redis is configured, purged after a day."""

    __tablename__ = "processed_updates"
    __table_args__ = (Index("ix_processed_updates_received_at", "received_at"),)

    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FsmState(Base):
    """A conversation's FSM state and data (aiogram's StorageKey) when no Redis is configured.

    The key columns mirror aiogram's ``StorageKey``; a key part aiogram leaves unset is stored
    as ``0`` / ``""`` because primary key columns cannot be NULL. ``updated_at`` is the last
    time the person did anything in the flow (idle expiry compares against it); rows left
    alone for long are purged by the worker."""

    __tablename__ = "fsm_states"
    __table_args__ = (Index("ix_fsm_states_updated_at", "updated_at"),)

    bot_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    thread_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, default=0)
    business_connection_id: Mapped[str] = mapped_column(String(128), primary_key=True, default="")
    destiny: Mapped[str] = mapped_column(String(64), primary_key=True, default="default")
    state: Mapped[str | None] = mapped_column(String(256))
    data: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
