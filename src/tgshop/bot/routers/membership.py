"""The person blocked or unblocked the bot (a my_chat_member update in their private chat)."""

from __future__ import annotations

from aiogram import F, Router
from aiogram.types import ChatMemberUpdated

from tgshop.services.users import UserService

GONE = {"kicked", "left"}


def membership_router(users: UserService) -> Router:
    router = Router(name="membership")

    @router.my_chat_member(F.chat.type == "private")
    async def changed(update: ChatMemberUpdated) -> None:
        await users.record_bot_blocked(update.from_user.id, update.new_chat_member.status in GONE)

    return router
