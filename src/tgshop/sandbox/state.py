"""The sandbox's world: people, bots, chats and messages, kept in memory.

One asyncio process owns it, so no locks: every change happens between two awaits. Each
chat has a version that grows with every new, edited or deleted message, and a condition
that control-API callers wait on ("until the bot has answered").
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

FIRST_USER_ID = 100_000_001
FIRST_GROUP_ID = -1_001_000_000_001


def now() -> int:
    return int(time.time())


@dataclass
class Account:
    """A Telegram account: a person played by a test or a browser, or a bot."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        if self.last_name:
            data["last_name"] = self.last_name
        if self.username:
            data["username"] = self.username
        if self.language_code and not self.is_bot:
            data["language_code"] = self.language_code
        return data


@dataclass
class Message:
    message_id: int
    chat: Chat
    sender: Account
    date: int
    text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list)
    reply_markup: dict[str, Any] | None = None
    edit_date: int | None = None
    # Media, invoices, payments, contacts...: Bot API fields stored as they are serialized.
    extra: dict[str, Any] = field(default_factory=dict)
    # What the sandbox keeps for itself (an invoice's payload and prices ...).
    private: dict[str, Any] = field(default_factory=dict)

    @property
    def is_from_bot(self) -> bool:
        return self.sender.is_bot

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": self.message_id,
            "from": self.sender.to_api(),
            "chat": self.chat.to_api(),
            "date": self.date,
        }
        if self.edit_date:
            data["edit_date"] = self.edit_date
        if self.text is not None:
            data["text"] = self.text
            if self.entities:
                data["entities"] = self.entities
        if self.caption is not None:
            data["caption"] = self.caption
            if self.caption_entities:
                data["caption_entities"] = self.caption_entities
        data.update(self.extra)
        if self.reply_markup is not None and self.reply_markup.get("inline_keyboard"):
            data["reply_markup"] = self.reply_markup
        return data


@dataclass
class Chat:
    id: int
    type: str  # private | group | supergroup | channel
    title: str | None = None
    peer: Account | None = None  # the person, in a private chat
    members: dict[int, str] = field(default_factory=dict)  # account id -> status
    messages: dict[int, Message] = field(default_factory=dict)
    message_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    version: int = 0
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    # The reply keyboard the person currently sees (a bot's last ReplyKeyboardMarkup).
    reply_keyboard: dict[str, Any] | None = None
    chat_action: tuple[str, int] | None = None

    def to_api(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private" and self.peer is not None:
            data["first_name"] = self.peer.first_name
            if self.peer.last_name:
                data["last_name"] = self.peer.last_name
            if self.peer.username:
                data["username"] = self.peer.username
        elif self.title:
            data["title"] = self.title
        return data

    async def touch(self) -> None:
        """Record a change and wake everyone waiting for one."""
        self.version += 1
        async with self.changed:
            self.changed.notify_all()


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str  # photo | document
    data: bytes | None
    url: str | None
    mime_type: str
    file_name: str | None
    width: int | None = None
    height: int | None = None

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else 0


@dataclass
class Invoice:
    """What sendInvoice / createInvoiceLink asked for."""

    title: str
    description: str
    payload: str
    currency: str
    prices: list[dict[str, Any]]
    provider_token: str

    @property
    def total_amount(self) -> int:
        return sum(int(p["amount"]) for p in self.prices)


@dataclass
class PendingQuery:
    """A callback or pre-checkout query waiting for the bot's answer."""

    id: str
    user_id: int
    created: float
    answer: asyncio.Future[dict[str, Any]]
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class Charge:
    telegram_payment_charge_id: str
    provider_payment_charge_id: str
    user_id: int
    currency: str
    total_amount: int
    payload: str
    date: int
    refunded: bool = False


@dataclass
class Webhook:
    url: str
    secret_token: str | None
    max_connections: int
    allowed_updates: list[str] | None
    last_error_date: int | None = None
    last_error_message: str | None = None


@dataclass
class BotState:
    token: str
    account: Account
    chats: dict[int, Chat] = field(default_factory=dict)
    updates: deque[dict[str, Any]] = field(default_factory=deque)
    update_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    new_update: asyncio.Condition = field(default_factory=asyncio.Condition)
    webhook: Webhook | None = None
    allowed_updates: list[str] | None = None  # from the last getUpdates / setWebhook
    poller: int | None = None  # id of the getUpdates call currently waiting
    commands: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    menu_buttons: dict[int | None, dict[str, Any]] = field(default_factory=dict)
    blocked_by: set[int] = field(default_factory=set)
    callback_queries: dict[str, PendingQuery] = field(default_factory=dict)
    pre_checkout_queries: dict[str, PendingQuery] = field(default_factory=dict)
    invoice_links: dict[str, Invoice] = field(default_factory=dict)
    charges: dict[str, Charge] = field(default_factory=dict)
    star_transactions: list[dict[str, Any]] = field(default_factory=list)
    files: dict[str, StoredFile] = field(default_factory=dict)
    # Every Bot API call, newest last: what tests and the UI show as "what the bot did".
    calls: deque[tuple[float, str]] = field(default_factory=lambda: deque(maxlen=1000))

    @property
    def id(self) -> int:
        return self.account.id


@dataclass
class World:
    """Everything the sandbox knows."""

    users: dict[int, Account] = field(default_factory=dict)
    bots: dict[str, BotState] = field(default_factory=dict)
    user_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(FIRST_USER_ID))
    group_ids: itertools.count[int] = field(
        default_factory=lambda: itertools.count(FIRST_GROUP_ID, -1)
    )
    query_ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
