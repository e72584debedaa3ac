"""Blocking a person: one notice per block, however many updates race for it; audited."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from tests.support.fakes import FrozenClock
from tgshop.db.engine import Database
from tgshop.db.models import AuditLog
from tgshop.domain.errors import InvalidRequest, NotFound
from tgshop.services.users import TelegramUserData, UserService


async def test_the_notice_is_claimed_once_per_block(db: Database, clock: FrozenClock) -> None:
    users = UserService(db, clock)
    eve = await users.onboard(TelegramUserData(501, "Eve"))
    assert await users.claim_blocked_notice(eve.id) is False  # not blocked: nothing to say
    blocked = await users.set_blocked(eve.id, True, "abuse")
    assert (blocked.is_blocked, blocked.blocked_notice_sent) == (True, False)
    claims = await asyncio.gather(*(users.claim_blocked_notice(eve.id) for _ in range(8)))
    assert sorted(claims) == [False] * 7 + [True]
    assert (await users.onboard(TelegramUserData(501, "Eve"))).blocked_notice_sent
    unblocked = await users.set_blocked(eve.id, False)
    assert (unblocked.is_blocked, unblocked.blocked_notice_sent) == (False, False)
    assert await users.claim_blocked_notice(eve.id) is False
    await users.set_blocked(eve.id, True)
    assert await users.claim_blocked_notice(eve.id) is True  # a new block, a new notice


async def test_blocking_is_audited_and_checked(db: Database, clock: FrozenClock) -> None:
    users = UserService(db, clock)
    eve = await users.onboard(TelegramUserData(502, "Eve"))
    admin = await users.onboard(TelegramUserData(503, "Admin"))
    await users.set_blocked(eve.id, True, "<b>fraud</b>", actor_user_id=admin.id)
    await users.set_blocked(eve.id, False, "ignored when unblocking", actor_user_id=admin.id)
    async with db.read() as session:
        rows = (
            await session.execute(
                select(AuditLog.action, AuditLog.entity, AuditLog.entity_id, AuditLog.data)
                .where(AuditLog.actor_user_id == admin.id)
                .order_by(AuditLog.id)
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("user.blocked", "user", str(eve.id), {"reason": "<b>fraud</b>"}),
        ("user.unblocked", "user", str(eve.id), {}),
    ]
    with pytest.raises(NotFound):
        await users.set_blocked(10**9, True)
    with pytest.raises(InvalidRequest, match="reason must be at most 512"):
        await users.set_blocked(eve.id, True, "x" * 513)
