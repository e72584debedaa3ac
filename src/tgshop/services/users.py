"""Users: lazy onboarding from whatever Telegram tells us about a person.

Rules:
- the first update from a Telegram user creates them; every later one refreshes their
  names and username (people rename themselves);
- the language follows Telegram's ``language_code`` until the user picks one explicitly;
  after that, Telegram's value never overrides their choice;
- each user gets a unique referral code once;
- a referrer is recorded at most once (see :meth:`UserService.record_referrer`);
- concurrent first updates from the same person create exactly one user (upsert);
- staff may block a person (``set_blocked``): the bot then serves them nothing and tells
  them so once (``claim_blocked_notice``); blocking and unblocking are audited;
- a returning person whose Telegram details are unchanged costs one read, never a write
  (on SQLite every write queues for the one writer lock);
- a person seen again within ``remember_seconds`` with exactly the same Telegram details
  is served from this process's memory instead of the database (every update of a chat
  pays for onboarding); a change made through this service (language, blocking, the
  blocked notice) is announced through
  :class:`~tgshop.services.change_notices.ChangeNotices` once committed, so every process
  forgets them at once; a change made any other way (a direct database edit) is seen within
  ``remember_seconds``.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Row, Table, bindparam, case, select, update

from tgshop.db.engine import Database
from tgshop.db.models import AuditLog, User
from tgshop.db.upsert import insert_for_dialect
from tgshop.domain.errors import InvalidRequest, NotFound
from tgshop.services.change_notices import USER_TOPIC, ChangeNotices
from tgshop.services.ports import Clock

SUPPORTED_LANGUAGES = ("en", "ru")
MAX_REFERRAL_CODE_LENGTH = 32  # the users.referral_code column


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
    blocked_notice_sent: bool = False

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or str(self.telegram_id)


def normalize_language(code: str | None) -> str:
    """Map Telegram's IETF tag ("ru-RU", "en") to a supported language, English by default."""
    base = (code or "").split("-")[0].lower()
    return base if base in SUPPORTED_LANGUAGES else "en"


def _view(user: User | Row[Any]) -> UserView:
    """The view of a user row, loaded as an object or returned by a Core statement."""
    return UserView(
        id=user.id,
        telegram_id=user.telegram_id,
        first_name=user.first_name,
        last_name=user.last_name,
        username=user.username,
        language=normalize_language(user.language_code),
        is_blocked=user.is_blocked,
        referral_code=user.referral_code,
        blocked_notice_sent=user.blocked_notice_at is not None,
    )


_VIEW_COLUMNS = (
    User.id,
    User.telegram_id,
    User.first_name,
    User.last_name,
    User.username,
    User.language_code,
    User.is_blocked,
    User.referral_code,
    User.blocked_notice_at,
)


def _unchanged(row: Any, data: TelegramUserData) -> bool:
    """Would the upsert leave this user's row as it is?"""
    return bool(
        row.first_name == data.first_name[:256]
        and row.last_name == (data.last_name or None)
        and row.username == (data.username or None)
        and (row.language_chosen or row.language_code == data.language_code)
    )


def _upsert_statement(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (telegram_id) DO UPDATE ... RETURNING, built once with bind
    parameters: the names and username follow Telegram, the language too unless the user
    chose one, and a new user gets the referral code passed in."""
    table = cast(Table, User.__table__)
    now = bindparam("now", type_=table.c.created_at.type)
    stmt = insert_for_dialect(dialect, table).values(
        telegram_id=bindparam("telegram_id"),
        first_name=bindparam("first_name"),
        last_name=bindparam("last_name"),
        username=bindparam("username"),
        language_code=bindparam("language_code"),
        language_chosen=False,
        is_blocked=False,
        referral_code=bindparam("referral_code"),
        created_at=now,
        updated_at=now,
    )
    return stmt.on_conflict_do_update(
        index_elements=[table.c.telegram_id],
        set_={
            "first_name": stmt.excluded.first_name,
            "last_name": stmt.excluded.last_name,
            "username": stmt.excluded.username,
            "language_code": case(
                (table.c.language_chosen, table.c.language_code),
                else_=stmt.excluded.language_code,
            ),
            "updated_at": stmt.excluded.updated_at,
        },
    ).returning(
        table.c.id,
        table.c.telegram_id,
        table.c.first_name,
        table.c.last_name,
        table.c.username,
        table.c.language_code,
        table.c.is_blocked,
        table.c.referral_code,
        table.c.blocked_notice_at,
    )


class _RecentlySeen:
    """Who was onboarded lately, by Telegram id: their details then and the view we built.
    Bounded (least recently seen dropped first) and timed by the monotonic clock — this is
    about not repeating a database write, not about business time."""

    def __init__(self, seconds: float, size: int = 10_000) -> None:
        self.seconds = seconds
        self._size = size
        self._entries: OrderedDict[int, tuple[TelegramUserData, UserView, float]] = OrderedDict()
        # User id -> Telegram id: a forget (one per change anywhere, relayed to every process)
        # finds its entry without walking all of them.
        self._telegram_of: dict[int, int] = {}
        # Bumped by every forget: a read that started before one is not remembered (it may
        # have seen the row before the change).
        self.generation = 0

    def get(self, data: TelegramUserData) -> UserView | None:
        entry = self._entries.get(data.telegram_id)
        if entry is None:
            return None
        seen, view, until = entry
        if seen != data or time.monotonic() >= until:
            del self._entries[data.telegram_id]
            self._telegram_of.pop(view.id, None)
            return None
        self._entries.move_to_end(data.telegram_id)
        return view

    def put(self, data: TelegramUserData, view: UserView, generation: int) -> None:
        if generation != self.generation:
            return
        self._entries[data.telegram_id] = (data, view, time.monotonic() + self.seconds)
        self._entries.move_to_end(data.telegram_id)
        self._telegram_of[view.id] = data.telegram_id
        while len(self._entries) > self._size:
            _, (_, dropped, _) = self._entries.popitem(last=False)
            self._telegram_of.pop(dropped.id, None)

    def forget(self, user_id: int | None) -> None:
        self.generation += 1
        if user_id is None:
            self._entries.clear()
            self._telegram_of.clear()
            return
        telegram_id = self._telegram_of.pop(user_id, None)
        if telegram_id is not None:
            self._entries.pop(telegram_id, None)


class UserService:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        remember_seconds: float = 0,
        notices: ChangeNotices | None = None,
    ) -> None:
        self._db = db
        self._clock = clock
        self._recent = _RecentlySeen(remember_seconds) if remember_seconds > 0 else None
        self._notices = notices or ChangeNotices()
        self._notices.on(USER_TOPIC, self._forget)
        self._upsert_statement = _upsert_statement(db.dialect)
        self._current_statement = select(*_VIEW_COLUMNS, User.language_chosen).where(
            User.telegram_id == bindparam("telegram_id")
        )

    async def onboard(self, data: TelegramUserData) -> UserView:
        """Create or refresh the user behind a Telegram update (see module rules)."""
        if data.telegram_id <= 0:
            raise InvalidRequest("telegram_id must be a positive user id")
        if self._recent is None:
            return await self._upsert(data)
        known = self._recent.get(data)
        if known is not None:
            return known
        generation = self._recent.generation
        view = await self._upsert(data)
        self._recent.put(data, view, generation)
        return view

    def _forget(self, user_id: int | None) -> None:
        if self._recent is not None:
            self._recent.forget(user_id)

    async def _changed(self, user_id: int) -> None:
        await self._notices.announce(USER_TOPIC, user_id)

    async def _upsert(self, data: TelegramUserData) -> UserView:
        """Read the row; write only a new person or changed details (see module rules)."""
        async with self._db.core_read() as connection:
            current: Any = (
                await connection.execute(self._current_statement, {"telegram_id": data.telegram_id})
            ).one_or_none()
        if current is not None and _unchanged(current, data):
            return _view(current)
        params = {
            "telegram_id": data.telegram_id,
            "first_name": data.first_name[:256],
            "last_name": data.last_name or None,
            "username": data.username or None,
            "language_code": data.language_code,
            "referral_code": secrets.token_urlsafe(6),
            "now": self._clock.now(),
        }
        # New or changed: one statement writes and returns the row as it now is.
        async with self._db.core_transaction() as connection:
            return _view((await connection.execute(self._upsert_statement, params)).one())

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
            view = _view(user)
        await self._changed(user_id)
        return view

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

    async def record_referrer(self, user_id: int, code: str) -> bool:
        """Remember who invited a user, from the referral code in their start link.

        Rules: recorded only while the user has no referrer yet, and never changed
        afterwards (concurrent attempts: the first one wins); the code must be some other
        user's referral code (one's own is ignored), matched exactly; someone the user
        invited cannot become the user's referrer (no two-person loops). An unknown or
        unusable code is ignored rather than refused: a stale or mistyped link must not
        spoil a first visit. Returns whether the referrer was recorded now.
        """
        if not code or len(code) > MAX_REFERRAL_CODE_LENGTH:
            return False
        async with self._db.transaction() as session:
            referrer = (
                await session.execute(
                    select(User.id, User.referrer_id).where(User.referral_code == code)
                )
            ).first()
            if referrer is None or referrer.id == user_id or referrer.referrer_id == user_id:
                return False
            result = cast(
                CursorResult[Any],
                await session.execute(
                    update(User)
                    .where(User.id == user_id, User.referrer_id.is_(None))
                    .values(referrer_id=referrer.id, updated_at=self._clock.now())
                ),
            )
            return result.rowcount == 1

    async def set_blocked(
        self,
        user_id: int,
        blocked: bool,
        reason: str | None = None,
        *,
        actor_user_id: int | None = None,
    ) -> UserView:
        """Block (or unblock) a person. A blocked person gets one polite "this shop can't
        serve you" notice the next time they write, and nothing else afterwards. Either
        change resets that notice, so each new block is announced once. ``reason`` is for
        staff (audit log, admin views), never shown to the person. Every call writes an
        audit log row (``user.blocked`` / ``user.unblocked``) naming ``actor_user_id``."""
        if reason is not None and len(reason) > 512:
            raise InvalidRequest("reason must be at most 512 characters")
        now = self._clock.now()
        async with self._db.transaction() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise NotFound("no such user")
            user.is_blocked = blocked
            user.blocked_reason = (reason or None) if blocked else None
            user.blocked_notice_at = None
            user.updated_at = now
            session.add(
                AuditLog(
                    actor_user_id=actor_user_id,
                    action="user.blocked" if blocked else "user.unblocked",
                    entity="user",
                    entity_id=str(user_id),
                    data={"reason": reason} if blocked and reason else {},
                    created_at=now,
                )
            )
            await session.flush()
            view = _view(user)
        await self._changed(user_id)
        return view

    async def claim_blocked_notice(self, user_id: int) -> bool:
        """True exactly once per block: the caller should send the blocked notice now. A
        conditional update, so concurrent updates from the person cannot both send it (and
        a notice whose sending fails is not retried: at most once, never a flood)."""
        async with self._db.transaction() as session:
            result = cast(
                CursorResult[Any],
                await session.execute(
                    update(User)
                    .where(
                        User.id == user_id,
                        User.is_blocked.is_(True),
                        User.blocked_notice_at.is_(None),
                    )
                    .values(blocked_notice_at=self._clock.now())
                ),
            )
        if result.rowcount != 1:
            return False
        await self._changed(user_id)
        return True

    async def get(self, user_id: int) -> UserView:
        async with self._db.read() as session:
            user = await session.get(User, user_id)
            if user is None:
                raise NotFound("no such user")
            return _view(user)
