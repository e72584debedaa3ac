"""The TelegramClient port over aiogram 3's ``Bot``, pointed at ``TGSHOP_TELEGRAM_API_URL``
(Telegram itself, or the sandbox).

Failures become :class:`TelegramSendError` so the worker decides retries without knowing
aiogram:
- flood control (429) → ``retry_after`` seconds, as Telegram asked;
- the bot was blocked or kicked (403), the chat does not exist or the request is malformed
  (400), the group moved to a supergroup → ``permanent``: the same request cannot succeed;
- network errors, timeouts, 5xx, an unreadable answer, a rejected token (401/404, which an
  operator fixes) → transient: retried with backoff.
The bot token never appears in an error message.
"""

from __future__ import annotations

import aiohttp
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    AiogramError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramRetryAfter,
)
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, LabeledPrice

from tgshop.config import TelegramSettings
from tgshop.services.ports import (
    InlineButtons,
    StarTransaction,
    StarTransactionsPage,
    TelegramSendError,
)


def inline_keyboard(buttons: InlineButtons | None) -> InlineKeyboardMarkup | None:
    """The port's rows of buttons as aiogram markup (None when there are none)."""
    rows = [
        [InlineKeyboardButton(text=b.text, callback_data=b.callback_data) for b in row]
        for row in buttons or ()
        if row
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


class AiogramTelegramClient:
    """Sends through aiogram's Bot; one aiohttp session for the life of the process."""

    def __init__(self, settings: TelegramSettings, *, timeout: float = 30.0) -> None:
        if settings.bot_token is None:
            raise ValueError("TGSHOP_BOT_TOKEN is not set: cannot talk to Telegram without it")
        self._token = settings.bot_token.get_secret_value()
        session = AiohttpSession(
            api=TelegramAPIServer.from_base(settings.telegram_api_url), timeout=timeout
        )
        self._bot = Bot(token=self._token, session=session)

    @property
    def bot(self) -> Bot:
        """The underlying Bot, for the dispatcher and features beyond this port."""
        return self._bot

    async def send_message(
        self,
        chat_id: int,
        text: str,
        *,
        parse_mode: str | None = "HTML",
        buttons: InlineButtons | None = None,
    ) -> int:
        try:
            message = await self._bot.send_message(
                chat_id, text, parse_mode=parse_mode, reply_markup=inline_keyboard(buttons)
            )
        except TelegramRetryAfter as exc:
            raise TelegramSendError(self._describe(exc), retry_after=exc.retry_after) from None
        except (TelegramForbiddenError, TelegramBadRequest, TelegramMigrateToChat) as exc:
            raise TelegramSendError(self._describe(exc), permanent=True) from None
        except (TimeoutError, AiogramError, aiohttp.ClientError) as exc:
            raise TelegramSendError(self._describe(exc)) from None
        return message.message_id

    async def star_transactions(self, offset: int, limit: int) -> StarTransactionsPage:
        try:
            found = await self._bot.get_star_transactions(offset=offset, limit=limit)
        except TelegramRetryAfter as exc:
            raise TelegramSendError(self._describe(exc), retry_after=exc.retry_after) from None
        except (TimeoutError, AiogramError, aiohttp.ClientError) as exc:
            raise TelegramSendError(self._describe(exc)) from None
        incoming = []
        for transaction in found.transactions:
            source = transaction.source
            if getattr(source, "transaction_type", None) != "invoice_payment":
                continue  # refunds, withdrawals, ads...: not money a customer paid us
            user = getattr(source, "user", None)
            incoming.append(
                StarTransaction(
                    id=transaction.id,
                    amount=transaction.amount,
                    user_id=user.id if user is not None else None,
                    invoice_payload=getattr(source, "invoice_payload", None),
                )
            )
        return StarTransactionsPage(len(found.transactions), incoming)

    async def refund_star_payment(self, user_id: int, charge_id: str) -> bool:
        try:
            await self._bot.refund_star_payment(
                user_id=user_id, telegram_payment_charge_id=charge_id
            )
        except TelegramBadRequest as exc:
            if "CHARGE_ALREADY_REFUNDED" in str(exc):
                return False  # a retry after the first call went through
            raise TelegramSendError(self._describe(exc), permanent=True) from None
        except TelegramRetryAfter as exc:
            raise TelegramSendError(self._describe(exc), retry_after=exc.retry_after) from None
        except (TimeoutError, AiogramError, aiohttp.ClientError) as exc:
            raise TelegramSendError(self._describe(exc)) from None
        return True

    async def create_invoice_link(
        self,
        *,
        title: str,
        description: str,
        payload: str,
        currency: str,
        amount: int,
        label: str,
        provider_token: str,
    ) -> str:
        try:
            return await self._bot.create_invoice_link(
                title=title[:32],
                description=description[:255],
                payload=payload,
                currency=currency,
                prices=[LabeledPrice(label=label[:32] or "total", amount=amount)],
                provider_token=provider_token,
            )
        except TelegramRetryAfter as exc:
            raise TelegramSendError(self._describe(exc), retry_after=exc.retry_after) from None
        except TelegramBadRequest as exc:
            raise TelegramSendError(self._describe(exc), permanent=True) from None
        except (TimeoutError, AiogramError, aiohttp.ClientError) as exc:
            raise TelegramSendError(self._describe(exc)) from None

    async def close(self) -> None:
        await self._bot.session.close()

    def _describe(self, exc: BaseException) -> str:
        text = f"{type(exc).__name__}: {exc}".replace(self._token, "<bot-token>")
        return text.split("\n(background on this error", 1)[0]
