"""Python helpers over the control API, so an end-to-end test reads like a story::

    alice = await sandbox.user("Alice")
    reply = await alice.send("/start")
    assert "Welcome" in reply.text
    reply = await alice.tap("Catalog")

Every action waits for the bot's reaction: the first new or edited bot message, then until
the chat has been quiet for ``settle`` seconds (bots often answer with several messages).
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from typing import Any

import httpx

DEFAULT_WAIT = 10.0
DEFAULT_SETTLE = 0.25


class SandboxError(Exception):
    """The control API refused an action (the message says why)."""


@dataclass
class Reply:
    """What the bot did after an action."""

    messages: list[dict[str, Any]] = field(default_factory=list)  # new bot messages
    edited: list[dict[str, Any]] = field(default_factory=list)  # bot messages changed
    answer: dict[str, Any] | None = None  # the callback answer, for a pressed button
    result: dict[str, Any] | None = None  # what the control API returned for the action

    @property
    def text(self) -> str:
        parts = [m.get("text") or m.get("caption") or "" for m in self.messages + self.edited]
        return "\n".join(p for p in parts if p)

    @property
    def last(self) -> dict[str, Any] | None:
        shown = self.messages or self.edited
        return shown[-1] if shown else None


def buttons(message: dict[str, Any] | None) -> list[str]:
    """The inline button labels of a message, row by row."""
    rows = ((message or {}).get("reply_markup") or {}).get("inline_keyboard", [])
    return [button["text"] for row in rows for button in row]


class SandboxClient:
    def __init__(
        self, base_url: str, *, bot: str | None = None, http: httpx.AsyncClient | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.bot = bot
        # Every watched action holds a long poll open while it waits for the bot: with many
        # people acting at once, httpx's default pool (100 connections) would queue actions
        # behind other people's polls and make a crowd look slow.
        self._http = http or httpx.AsyncClient(
            timeout=60, limits=httpx.Limits(max_connections=1000, max_keepalive_connections=200)
        )
        self._owns_http = http is None

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def request(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        query = dict(params or {})
        if self.bot:
            query["bot"] = self.bot
        response = await self._http.request(
            method, f"{self.base_url}/sandbox/api{path}", json=body, params=query
        )
        data = response.json()
        if not data.get("ok"):
            raise SandboxError(data.get("error", response.text))
        return data["result"]

    async def create_bot(
        self,
        *,
        token: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
    ) -> dict[str, Any]:
        bot = await self.request(
            "POST", "/bots", {"token": token, "username": username, "first_name": first_name}
        )
        self.bot = self.bot or bot["username"]
        return dict(bot)

    async def user(
        self,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str = "en",
    ) -> SandboxUser:
        data = await self.request(
            "POST",
            "/users",
            {
                "first_name": first_name,
                "last_name": last_name,
                "username": username,
                "language_code": language_code,
            },
        )
        return SandboxUser(self, data)

    async def group(self, title: str, members: list[SandboxUser]) -> dict[str, Any]:
        return dict(
            await self.request(
                "POST", "/groups", {"title": title, "member_ids": [m.id for m in members]}
            )
        )

    async def chat(
        self, chat_id: int, *, after_version: int = -1, wait: float = 0
    ) -> dict[str, Any]:
        return dict(
            await self.request(
                "GET", f"/chats/{chat_id}", params={"after_version": after_version, "wait": wait}
            )
        )

    async def set_fault(self, method: str, **rule: float) -> None:
        await self.request("PUT", "/faults", {"method": method, **rule})

    async def clear_faults(self) -> None:
        await self.request("DELETE", "/faults")

    async def set_limits(self, **limits: Any) -> None:
        await self.request("PUT", "/limits", limits)

    async def calls(self) -> list[str]:
        return [c["method"] for c in await self.request("GET", "/calls")]

    # ------------------------------------------------------------------ fake CryptoBot

    async def add_crypto_app(
        self, token: str, webhook_url: str | None = None, *, name: str | None = None
    ) -> dict[str, Any]:
        """Register a CryptoBot app (or change a known one's webhook URL)."""
        body = {"token": token, "webhook_url": webhook_url, "name": name}
        return dict(await self.request("POST", "/cryptobot/apps", body))

    async def crypto_pay(
        self,
        invoice_id: int,
        *,
        asset: str | None = None,
        webhook: str = "send",
        comment: str | None = None,
    ) -> dict[str, Any]:
        """Pay an invoice: ``{"invoice": ..., "webhook": {"status", "error", "attempts"}}``.
        ``webhook``: send | skip | bad_signature | no_signature."""
        body = {"asset": asset, "webhook": webhook, "comment": comment}
        return dict(await self.request("POST", f"/cryptobot/invoices/{invoice_id}/pay", body))

    async def crypto_expire(self, invoice_id: int) -> dict[str, Any]:
        """Let an active invoice expire now; returns the invoice."""
        result = await self.request("POST", f"/cryptobot/invoices/{invoice_id}/expire")
        return dict(result["invoice"])

    async def crypto_invoices(self) -> list[dict[str, Any]]:
        return list(await self.request("GET", "/cryptobot/invoices"))

    # ------------------------------------------------------------------ fake YooKassa

    async def add_yookassa_shop(
        self, shop_id: str, secret_key: str, webhook_url: str | None = None
    ) -> dict[str, Any]:
        """Register a YooKassa shop (or change a known one's key and notification URL)."""
        body = {"shop_id": shop_id, "secret_key": secret_key, "webhook_url": webhook_url}
        return dict(await self.request("POST", "/yookassa/shops", body))

    async def yookassa_succeed(self, payment_id: str, webhook: str = "send") -> dict[str, Any]:
        """The payer pays: ``{"payment": ..., "webhook": ...}``; ``webhook``: send | skip."""
        path = f"/yookassa/payments/{payment_id}/succeed"
        return dict(await self.request("POST", path, {"webhook": webhook}))

    async def yookassa_cancel(
        self, payment_id: str, reason: str = "card_expired", webhook: str = "send"
    ) -> dict[str, Any]:
        """The payment fails with ``reason`` (YooKassa's cancellation reasons)."""
        path = f"/yookassa/payments/{payment_id}/cancel"
        return dict(await self.request("POST", path, {"reason": reason, "webhook": webhook}))

    async def yookassa_forge(
        self, payment_id: str, event: str = "payment.succeeded"
    ) -> dict[str, Any]:
        """Send a notification claiming ``event`` without changing the payment."""
        path = f"/yookassa/payments/{payment_id}/forge"
        return dict(await self.request("POST", path, {"event": event}))

    async def yookassa_payments(self) -> list[dict[str, Any]]:
        return list(await self.request("GET", "/yookassa/payments"))

    async def watch(
        self,
        chat_id: int,
        action: Any,
        *,
        wait: float = DEFAULT_WAIT,
        settle: float = DEFAULT_SETTLE,
        expect: bool = True,
    ) -> Reply:
        """Run ``action`` (an awaitable) and collect what the bot did in ``chat_id``."""
        before = await self.chat(chat_id)
        seen = {m["message_id"]: m for m in before["messages"]}
        version = before["version"]
        result = await action
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        reply = Reply(result=result if isinstance(result, dict) else None)
        if isinstance(result, dict) and result.get("answered"):
            reply.answer = {k: result.get(k) for k in ("text", "show_alert", "url")}
        changed = False
        while True:
            budget = (deadline - loop.time()) if not changed else settle
            if budget <= 0:
                break
            state = await self.chat(chat_id, after_version=version, wait=budget)
            if state["version"] == version:
                if changed or not expect:
                    break
                continue
            version = state["version"]
            for message in state["messages"]:
                if not message["from"]["is_bot"]:
                    continue
                old = seen.get(message["message_id"])
                if old is None:
                    reply.messages.append(message)
                    changed = True
                elif old != message:
                    reply.edited = [
                        m for m in reply.edited if m["message_id"] != message["message_id"]
                    ]
                    reply.edited.append(message)
                    changed = True
                seen[message["message_id"]] = message
            if not expect and not changed:
                changed = True
        return reply


class SandboxUser:
    def __init__(self, client: SandboxClient, data: dict[str, Any]) -> None:
        self.client = client
        self.data = data
        self.id: int = data["id"]
        self.first_name: str = data["first_name"]

    def _path(self, action: str) -> str:
        return f"/users/{self.id}/{action}"

    async def _do(
        self,
        action: str,
        body: dict[str, Any],
        *,
        chat_id: int | None = None,
        wait: float = DEFAULT_WAIT,
        expect: bool = True,
    ) -> Reply:
        return await self.client.watch(
            chat_id or self.id,
            self.client.request("POST", self._path(action), body),
            wait=wait,
            expect=expect,
        )

    async def send(
        self,
        text: str,
        *,
        chat_id: int | None = None,
        wait: float = DEFAULT_WAIT,
        expect: bool = True,
    ) -> Reply:
        """Type a message (a command is just text starting with /)."""
        body: dict[str, Any] = {"text": text}
        if chat_id is not None:
            body["chat_id"] = chat_id
        return await self._do("send", body, chat_id=chat_id, wait=wait, expect=expect)

    async def edit(
        self, message_id: int, text: str, *, wait: float = DEFAULT_WAIT, expect: bool = True
    ) -> Reply:
        """Edit one of one's own messages (the bot gets an edited_message update)."""
        return await self._do(
            "edit", {"message_id": message_id, "text": text}, wait=wait, expect=expect
        )

    async def tap(
        self,
        label: str,
        *,
        chat_id: int | None = None,
        message_id: int | None = None,
        wait: float = DEFAULT_WAIT,
        expect: bool = True,
    ) -> Reply:
        """Press a button by its label: an inline button of the newest bot message that has
        it (or of ``message_id``), else a button of the reply keyboard. ``chat_id`` presses
        in a group instead of the private chat with the bot. ``expect=False``: the bot may
        only answer the press (an alert), so wait at most ``wait`` for anything else."""
        state = await self.client.chat(chat_id or self.id)
        for message in reversed(state["messages"]):
            if message_id is not None and message["message_id"] != message_id:
                continue
            if message["from"]["is_bot"] and label in buttons(message):
                body: dict[str, Any] = {"message_id": message["message_id"], "button": label}
                if chat_id is not None:
                    body["chat_id"] = chat_id
                return await self._do("press", body, chat_id=chat_id, wait=wait, expect=expect)
        if chat_id is not None or message_id is not None:
            raise SandboxError(f"{self.first_name} sees no button {label!r} there")
        keyboard = state.get("reply_keyboard") or {}
        labels = [b["text"] for row in keyboard.get("keyboard", []) for b in row]
        if label in labels:
            return await self._do("reply-button", {"text": label}, wait=wait, expect=expect)
        raise SandboxError(f"{self.first_name} sees no button {label!r}")

    async def share_contact(
        self, phone_number: str, *, own: bool = True, wait: float = DEFAULT_WAIT
    ) -> Reply:
        """Send a contact card: one's own (with one's user id), or someone else's."""
        return await self._do("contact", {"phone_number": phone_number, "own": own}, wait=wait)

    async def share_location(
        self, latitude: float, longitude: float, *, wait: float = DEFAULT_WAIT
    ) -> Reply:
        return await self._do("location", {"latitude": latitude, "longitude": longitude}, wait=wait)

    async def send_photo(
        self, data: bytes, caption: str | None = None, *, wait: float = DEFAULT_WAIT
    ) -> Reply:
        return await self._do(
            "photo", {"data_base64": base64.b64encode(data).decode(), "caption": caption}, wait=wait
        )

    async def pay(
        self,
        message_id: int | None = None,
        *,
        link: str | None = None,
        wait: float = DEFAULT_WAIT,
        answer_within: float | None = None,
    ) -> Reply:
        """Pay an invoice (the newest one in the chat when no message or link is given)."""
        if message_id is None and link is None:
            state = await self.client.chat(self.id)
            invoices = [m for m in state["messages"] if "invoice" in m]
            if not invoices:
                raise SandboxError(f"{self.first_name} has no invoice to pay")
            message_id = invoices[-1]["message_id"]
        body: dict[str, Any] = {"link": link} if link else {"message_id": message_id}
        if answer_within is not None:
            body["wait"] = answer_within
        return await self._do("pay", body, wait=wait)

    async def open_web_app(self, url: str) -> str:
        """The Mini App URL as Telegram would open it, with signed initData."""
        result = await self.client.request("POST", self._path("web-app"), {"url": url})
        return str(result["url"])

    async def block(self) -> None:
        await self.client.request("POST", self._path("block"))

    async def unblock(self) -> None:
        await self.client.request("POST", self._path("unblock"))

    async def history(self) -> list[dict[str, Any]]:
        return list((await self.client.chat(self.id))["messages"])

    async def last_message(self) -> dict[str, Any] | None:
        messages = await self.history()
        return messages[-1] if messages else None

    async def reply_keyboard(self) -> list[str]:
        keyboard = (await self.client.chat(self.id)).get("reply_keyboard") or {}
        return [b["text"] for row in keyboard.get("keyboard", []) for b in row]
