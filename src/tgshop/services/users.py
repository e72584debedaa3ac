"""Users: lazy onboarding from whatever Telegram tells us about a person.

Rules:
- the first update from a Telegram user creates them; every later one refreshes their
  names and username (people rename themselves);
- the language follows Telegram's ``language_code`` until the user picks one explicitly;
  after that, Telegram's value never overrides their choice;
- each user gets a unique referral code once;
- concurrent first updates from the same person create exactly one user (upsert).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import case, select

from tgshop.db.engine import Database
from tgshop.db.models import User
from tgshop.db.upsert import insert_for
from tgshop.domain.errors import InvalidRequest, NotFound
from tgshop.services.ports import Clock

SUPPORTED_LANGUAGES = ("en", "ru")


@dataclass(frozen=True)
class TelegramUserData:
    telegram_id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None


@dataclass(frozen=True)
class UserView:
    id: int
    telegram_id: int
    first_name: str
    last_name: str | None
    username: str | None
    language: str
    is_blocked: bool
    referral_code: str

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or str(self.telegram_id)


def normalize_language(code: str | None) -> str:
    """Map Telegram's IETF tag ("ru-RU", "en") to a supported language, English by default."""
    base = (code or "").split("-")[0].lower()
    return base if base in SUPPORTED_LANGUAGES else "en"


def _view(user: User) -> UserView:
    return UserView(
        id=user.id,
        telegram_id=user.telegram_id,
        first_name=user.first_name,
        last_name=user.last_name,
        username=user.username,
        language=normalize_language(user.language_code),
        is_blocked=user.is_blocked,
        referral_code=user.referral_code,
    )


class UserService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def onboard(self, data: TelegramUserData) -> UserView:
        """Create or refresh the user behind a Telegram update (see module rules)."""
        if data.telegram_id <= 0:
            raise InvalidRequest("telegram_id must be a positive user id")
        now = self._clock.now()
        async with self._db.transaction() as session:
            insert = insert_for(session, User)
            stmt = insert.values(
                telegram_id=data.telegram_id,
                first_name=data.first_name[:256],
                last_name=(data.last_name or None),
                username=(data.username or None),
                language_code=data.language_code,
                language_chosen=False,
                is_blocked=False,
                referral_code=secrets.token_urlsafe(6),
                created_at=now,
                updated_at=now,
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=[User.telegram_id],
                set_={
                    "first_name": stmt.excluded.first_name,
                    "last_name": stmt.excluded.last_name,
                    "username": stmt.excluded.username,
                    "language_code": case(
                        (User.language_chosen, User.language_code),
                        else_=stmt.excluded.language_code,
                    ),
                    "updated_at": now,
                },
            )
            await session.execute(stmt)
            user = (
                await session.execute(select(User).where(User.telegram_id == data.telegram_id))
            ).scalar_one()
            return _view(user)

    async def set_language(self, user_id: int, language: str) -> UserView:
        """An explicit choice: kept from now on, whatever Telegram reports."""
        if language not in SUPPORTED_LANGUAGES:
            raise InvalidRequest(f"language must be one of {', '.join(SUPPORTED_LANGUAGES)}")
        async with self._db.transaction() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise NotFound("no such user")
            user.language_code = language
            user.language_chosen = True
            user.updated_at = self._clock.now()
            await session.flush()
            return _view(user)

    async def record_bot_blocked(self, telegram_id: int, blocked: bool) -> None:
        """A person blocked (or unblocked) the bot: remember when, so broadcasts and
        notifications skip them until they come back. Unknown people are ignored."""
        async with self._db.transaction() as session:
            user = (
                await session.execute(select(User).where(User.telegram_id == telegram_id))
            ).scalar_one_or_none()
            if user is None:
                return
            if blocked and user.bot_blocked_at is None:
                user.bot_blocked_at = self._clock.now()
            elif not blocked:
                user.bot_blocked_at = None
            user.updated_at = self._clock.now()

    async def get(self, user_id: int) -> UserView:
        async with self._db.read() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise NotFound("no such user")
            return _view(user)
