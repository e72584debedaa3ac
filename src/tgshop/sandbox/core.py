"""Operations on the sandbox world shared by the Bot API side and the user (control) side."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from tgshop.sandbox.cryptopay import CryptoApp, CryptoPay
from tgshop.sandbox.delivery import WebhookDelivery
from tgshop.sandbox.errors import UNAUTHORIZED, bad_request, forbidden
from tgshop.sandbox.faults import Faults
from tgshop.sandbox.limits import FloodLimits
from tgshop.sandbox.provider_hooks import ProviderHooks
from tgshop.sandbox.state import Account, BotState, Chat, Message, World, now
from tgshop.sandbox.webapp import LaunchKey
from tgshop.sandbox.yookassa import YooKassa, YooKassaShop

UPDATE_KINDS = (
    "message",
    "edited_message",
    "callback_query",
    "pre_checkout_query",
    "my_chat_member",
)
# Telegram keeps undelivered updates for 24 hours; a sandbox keeps the newest this many.
MAX_PENDING_UPDATES = 10_000


class Sandbox:
    """The world plus the rules for changing it."""

    def __init__(self, *, limits: FloodLimits | None = None, faults: Faults | None = None) -> None:
        self.world = World()
        self.limits = limits or FloodLimits()
        self.faults = faults or Faults()
        self.delivery = WebhookDelivery(self._run_method)
        # The fake payment providers (cryptopay.py, yookassa.py) live beside Telegram.
        self.cryptopay = CryptoPay()
        self.yookassa = YooKassa()
        self.provider_hooks = ProviderHooks()
        # Signs Mini App launch data the way Telegram's key does (third-party validation).
        self.launch_key = LaunchKey()

    async def _run_method(self, bot: BotState, name: str, values: dict[str, Any]) -> Any:
        from tgshop.sandbox.bot_api import call
        from tgshop.sandbox.params import Params

        return await call(self, bot, name, Params(values))

    async def close(self) -> None:
        await self.delivery.close()
        await self.provider_hooks.close()

    # ------------------------------------------------------------------ payment providers

    def add_crypto_app(
        self, token: str, webhook_url: str | None = None, *, name: str = "Sandbox Shop"
    ) -> CryptoApp:
        """A CryptoBot app for ``token`` (or a new webhook URL for a known one)."""
        return self.cryptopay.add_app(token, webhook_url, name=name)

    def add_yookassa_shop(
        self, shop_id: str, secret_key: str, webhook_url: str | None = None
    ) -> YooKassaShop:
        """A YooKassa shop (or a new key and notification URL for a known one)."""
        return self.yookassa.add_shop(shop_id, secret_key, webhook_url)

    # ------------------------------------------------------------------ accounts and chats

    def add_bot(
        self, token: str, *, username: str = "tgshop_sandbox_bot", first_name: str = "Sandbox Shop"
    ) -> BotState:
        bot_id, sep, secret = token.partition(":")
        if not sep or not bot_id.isdigit() or not secret:
            raise ValueError("a bot token looks like 123456:secret")
        bot = BotState(
            token=token, account=Account(int(bot_id), first_name, username=username, is_bot=True)
        )
        self.world.bots[token] = bot
        return bot

    def bot(self, token: str) -> BotState:
        try:
            return self.world.bots[token]
        except KeyError:
            raise UNAUTHORIZED from None

    def bot_by_username_or_first(self, username: str | None = None) -> BotState:
        for bot in self.world.bots.values():
            if username is None or bot.account.username == username:
                return bot
        raise KeyError(f"no bot {username!r}")

    def add_user(
        self,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> Account:
        if not first_name or len(first_name) > 64:
            raise ValueError("first_name must be 1-64 characters")
        account = Account(next(self.world.user_ids), first_name, last_name, username, language_code)
        self.world.users[account.id] = account
        return account

    def user(self, user_id: int) -> Account:
        try:
            return self.world.users[user_id]
        except KeyError:
            raise KeyError(f"no user {user_id}") from None

    def private_chat(self, bot: BotState, user: Account) -> Chat:
        chat = bot.chats.get(user.id)
        if chat is None:
            chat = Chat(
                id=user.id, type="private", peer=user, members={user.id: "member", bot.id: "member"}
            )
            bot.chats[user.id] = chat
        return chat

    def add_group(self, bot: BotState, title: str, member_ids: list[int]) -> Chat:
        chat = Chat(id=next(self.world.group_ids), type="supergroup", title=title)
        chat.members = {uid: "member" for uid in member_ids} | {bot.id: "administrator"}
        bot.chats[chat.id] = chat
        return chat

    def chat(self, bot: BotState, chat_id: int | str) -> Chat:
        if isinstance(chat_id, str):
            raise bad_request("chat not found")
        chat = bot.chats.get(chat_id)
        if chat is None:
            user = self.world.users.get(chat_id)
            if user is None:
                raise bad_request("chat not found")
            # The person never wrote to the bot: Telegram refuses to start the conversation.
            raise forbidden("bot can't initiate conversation with a user")
        return chat

    # ------------------------------------------------------------------ messages and updates

    async def add_message(self, chat: Chat, sender: Account, **fields: Any) -> Message:
        message = Message(
            message_id=next(chat.message_ids), chat=chat, sender=sender, date=now(), **fields
        )
        chat.messages[message.message_id] = message
        if sender.is_bot:
            chat.chat_action = None
        await chat.touch()
        return message

    async def push_update(self, bot: BotState, kind: str, payload: dict[str, Any]) -> int | None:
        """Queue an update unless the bot's allowed_updates excludes its kind."""
        allowed = bot.allowed_updates
        if allowed and kind not in allowed:
            return None
        update_id = next(bot.update_ids)
        bot.updates.append({"update_id": update_id, kind: payload})
        while len(bot.updates) > MAX_PENDING_UPDATES:
            bot.updates.popleft()
        async with bot.new_update:
            bot.new_update.notify_all()
        return update_id

    def new_query_id(self) -> str:
        return f"{next(self.world.query_ids)}{secrets.randbelow(10**9):09d}"

    def chat_instance(self, bot: BotState, chat: Chat) -> str:
        return str(abs(hash((bot.id, chat.id))) % 10**18)

    @staticmethod
    def future() -> asyncio.Future[dict[str, Any]]:
        return asyncio.get_running_loop().create_future()
