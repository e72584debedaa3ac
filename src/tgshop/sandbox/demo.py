"""The sandbox world `tgshop demo` starts with: the shop's bot, a manager and the managers'
group chat where new orders are announced."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from tgshop.sandbox.core import Sandbox
from tgshop.sandbox.state import BotState, Chat

DEMO_BOT_ID = 7_000_000_001


@dataclass(frozen=True)
class DemoWorld:
    sandbox: Sandbox
    bot: BotState
    manager_chat: Chat
    manager_id: int


def demo_world() -> DemoWorld:
    """A fresh world; the bot token is new on every start (nothing outside knows it)."""
    sandbox = Sandbox()
    bot = sandbox.add_bot(
        f"{DEMO_BOT_ID}:{secrets.token_urlsafe(26)}",
        username="leaf_and_bean_bot",
        first_name="Leaf & Bean",
    )
    manager = sandbox.add_user("Maria", last_name="(manager)", username="maria_manager")
    group = sandbox.add_group(bot, "Leaf & Bean — orders", [manager.id])
    return DemoWorld(sandbox, bot, group, manager.id)
