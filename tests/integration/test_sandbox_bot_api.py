"""The sandbox answers our bot exactly where real bots break: limits, HTML, edits, callbacks,
blocked users, conflicts — and every result parses as aiogram's Bot API types."""

from __future__ import annotations

import asyncio
import io

import httpx
import pytest
from aiogram import Bot
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    BotCommand,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    LabeledPrice,
    MenuButtonWebApp,
    ReplyKeyboardMarkup,
    Update,
    WebAppInfo,
)
from PIL import Image

from tests.support.sandbox import RunningSandbox

pytestmark = pytest.mark.timeout(60)


def png(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
async def bot(sandbox: RunningSandbox):  # type: ignore[no-untyped-def]
    bot = sandbox.bot()
    yield bot
    await bot.session.close()


async def poll(bot: Bot) -> list[Update]:
    updates = await bot.get_updates(timeout=1)
    if updates:
        await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
    return updates


async def test_get_me_unknown_method_and_bad_token(sandbox: RunningSandbox, bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.username, me.is_bot) == ("tgshop_test_bot", True)
    async with httpx.AsyncClient() as http:
        unknown = await http.post(f"{sandbox.url}/bot{sandbox.token}/sendTelepathy")
        wrong = await http.post(f"{sandbox.url}/bot1:wrong/getMe")
    assert unknown.status_code == 404
    assert unknown.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    assert wrong.status_code == 401 and wrong.json()["description"] == "Unauthorized"


async def test_messages_have_per_chat_ids_and_parsed_html(
    sandbox: RunningSandbox, bot: Bot
) -> None:
    alice = await sandbox.client.user("Alice")
    bob = await sandbox.client.user("Bob")
    await alice.send("hi", expect=False, wait=0.1)
    await bob.send("hello", expect=False, wait=0.1)
    first = await bot.send_message(alice.id, "<b>Tea</b> &amp; <i>cakes</i>", parse_mode="HTML")
    other = await bot.send_message(bob.id, "plain")
    assert first.text == "Tea & cakes"
    assert [(e.type, e.offset, e.length) for e in first.entities or []] == [
        ("bold", 0, 3),
        ("italic", 6, 5),
    ]
    assert (first.message_id, other.message_id) == (2, 2)  # each chat counts its own


@pytest.mark.parametrize(
    ("text", "parse_mode", "error"),
    [
        ("", None, "message text is empty"),
        ("x" * 4097, None, "message is too long"),
        ("<b>open", "HTML", "can't parse entities"),
        ("<blink>x</blink>", "HTML", "can't parse entities"),
        ("<b>x</i>", "HTML", "can't parse entities"),
    ],
)
async def test_bad_text_is_refused(
    sandbox: RunningSandbox, bot: Bot, text: str, parse_mode: str | None, error: str
) -> None:
    alice = await sandbox.client.user("Alice")
    await alice.send("hi", expect=False, wait=0.1)
    with pytest.raises(TelegramBadRequest, match=error):
        await bot.send_message(alice.id, text, parse_mode=parse_mode)


async def test_limits_of_captions_and_callback_data(sandbox: RunningSandbox, bot: Bot) -> None:
    alice = await sandbox.client.user("Alice")
    await alice.send("hi", expect=False, wait=0.1)
    with pytest.raises(TelegramBadRequest, match="caption is too long"):
        await bot.send_photo(alice.id, BufferedInputFile(png(), "p.png"), caption="c" * 1025)
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="d" * 65)]]
    )
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(alice.id, "pick", reply_markup=keyboard)
    ok = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="x", callback_data="d" * 64)]]
    )
    sent = await bot.send_message(alice.id, "pick", reply_markup=ok)
    assert sent.reply_markup.inline_keyboard[0][0].callback_data == "d" * 64  # type: ignore[union-attr]


async def test_edits_and_deletes(sandbox: RunningSandbox, bot: Bot) -> None:
    alice = await sandbox.client.user("Alice")
    await alice.send("hi", expect=False, wait=0.1)
    message = await bot.send_message(alice.id, "one")
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(text="one", chat_id=alice.id, message_id=message.message_id)
    edited = await bot.edit_message_text(
        text="two", chat_id=alice.id, message_id=message.message_id
    )
    assert edited.text == "two" and edited.edit_date  # type: ignore[union-attr]
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text(text="x", chat_id=alice.id, message_id=999)
    assert await bot.delete_message(alice.id, message.message_id)
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(alice.id, message.message_id)
    assert [m.get("text") for m in await alice.history()] == ["hi"]


async def test_callback_queries_are_answered_once(sandbox: RunningSandbox, bot: Bot) -> None:
    alice = await sandbox.client.user("Alice")
    await alice.send("hi", expect=False, wait=0.1)
    markup = InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text="Go", callback_data="go")]]
    )
    await bot.send_message(alice.id, "menu", reply_markup=markup)
    await poll(bot)
    press = asyncio.create_task(alice.tap("Go", wait=3))
    updates: list[Update] = []
    while not updates:
        updates = await poll(bot)
    query = updates[0].callback_query
    assert query is not None and query.data == "go" and query.message is not None
    assert await bot.answer_callback_query(query.id, text="Done", show_alert=True)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query.id)
    reply = await press
    assert reply.answer == {"text": "Done", "show_alert": True, "url": None}


async def test_blocked_user_and_strangers(sandbox: RunningSandbox, bot: Bot) -> None:
    alice = await sandbox.client.user("Alice")
    stranger = await sandbox.client.user("Stranger")
    await alice.send("hi", expect=False, wait=0.1)
    await alice.block()
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(alice.id, "news")
    updates = await poll(bot)
    kicked = [u.my_chat_member for u in updates if u.my_chat_member]
    assert kicked and kicked[0].new_chat_member.status == "kicked"
    await alice.unblock()
    assert (await bot.send_message(alice.id, "welcome back")).text == "welcome back"
    with pytest.raises(TelegramForbiddenError, match="can't initiate conversation"):
        await bot.send_message(stranger.id, "spam")


async def test_get_updates_conflicts(sandbox: RunningSandbox, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    second = await bot.get_updates(timeout=0)  # takes over; the first is terminated
    assert second == []
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await first
    await bot.set_webhook("http://127.0.0.1:9/hook")
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()
    await bot.delete_webhook()
    assert await bot.get_updates(timeout=0) == []


async def test_photos_documents_albums_and_files(sandbox: RunningSandbox, bot: Bot) -> None:
    alice = await sandbox.client.user("Alice")
    await alice.send("hi", expect=False, wait=0.1)
    uploaded = await bot.send_photo(
        alice.id, BufferedInputFile(png(64, 48), "tea.png"), caption="<b>Tea</b>", parse_mode="HTML"
    )
    largest = uploaded.photo[-1]  # type: ignore[index]
    assert (largest.width, largest.height) == (64, 48)
    again = await bot.send_photo(alice.id, largest.file_id)
    assert again.photo[-1].file_id == largest.file_id  # type: ignore[index]
    by_url = await bot.send_photo(alice.id, "https://example.com/tea.jpg")
    assert by_url.photo
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_photo(alice.id, "no-such-file-id")
    album = await bot.send_media_group(
        alice.id,
        [
            InputMediaPhoto(media=largest.file_id, caption="one"),
            InputMediaPhoto(media=BufferedInputFile(png(10, 10), "b.png")),
        ],
    )
    assert len({m.media_group_id for m in album}) == 1 and len(album) == 2
    document = await bot.send_document(alice.id, BufferedInputFile(b"%PDF-1.4 fake", "guide.pdf"))
    file = await bot.get_file(document.document.file_id)  # type: ignore[union-attr]
    async with httpx.AsyncClient() as http:
        body = await http.get(f"{sandbox.url}/file/bot{sandbox.token}/{file.file_path}")
    assert body.content == b"%PDF-1.4 fake"


async def test_keyboards_commands_and_menu(sandbox: RunningSandbox, bot: Bot) -> None:
    alice = await sandbox.client.user("Alice")
    await alice.send("hi", expect=False, wait=0.1)
    keyboard = ReplyKeyboardMarkup(
        keyboard=[
            [
                KeyboardButton(text="Catalog"),
                KeyboardButton(text="Share phone", request_contact=True),
            ]
        ]
    )
    await bot.send_message(alice.id, "menu", reply_markup=keyboard)
    assert await alice.reply_keyboard() == ["Catalog", "Share phone"]
    await poll(bot)
    await alice.tap("Share phone", wait=0.1)
    contact = (await poll(bot))[0].message.contact  # type: ignore[union-attr]
    assert contact is not None and contact.user_id == alice.id
    await bot.set_my_commands(
        [BotCommand(command="start", description="Start")], language_code="en"
    )
    assert [c.command for c in await bot.get_my_commands(language_code="en")] == ["start"]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="Bad Command", description="x")])
    button = MenuButtonWebApp(text="Shop", web_app=WebAppInfo(url="https://shop.test/app"))
    assert await bot.set_chat_menu_button(chat_id=alice.id, menu_button=button)
    assert (await bot.get_chat_menu_button(chat_id=alice.id)).type == "web_app"
    chat = await bot.get_chat(alice.id)
    member = await bot.get_chat_member(alice.id, alice.id)
    assert (chat.first_name, member.status) == ("Alice", "member")


async def test_group_chat_for_the_manager(sandbox: RunningSandbox, bot: Bot) -> None:
    manager = await sandbox.client.user("Manager")
    group = await sandbox.client.group("Orders", [manager])
    sent = await bot.send_message(group["id"], "New order")
    assert sent.chat.type == "supergroup" and sent.chat.title == "Orders"
    assert (await bot.get_chat_member(group["id"], bot.id)).status == "administrator"
    await manager.send("ok", chat_id=group["id"], expect=False, wait=0.1)
    update = (await poll(bot))[0]
    assert update.message is not None and update.message.chat.id == group["id"]


async def test_stars_invoice_paid_refunded_and_reconciled(
    sandbox: RunningSandbox, bot: Bot
) -> None:
    alice = await sandbox.client.user("Alice")
    await alice.send("hi", expect=False, wait=0.1)
    await poll(bot)
    with pytest.raises(TelegramBadRequest, match="provider_token must be empty"):
        await bot.send_invoice(
            alice.id,
            "Tea",
            "Green tea",
            "order:1",
            "XTR",
            [LabeledPrice(label="Tea", amount=50)],
            provider_token="tok",
        )
    await bot.send_invoice(
        alice.id, "Tea", "Green tea", "order:1", "XTR", [LabeledPrice(label="Tea", amount=50)]
    )

    async def answer_when_asked() -> None:
        while True:
            for update in await poll(bot):
                if update.pre_checkout_query:
                    query = update.pre_checkout_query
                    assert (query.total_amount, query.invoice_payload) == (50, "order:1")
                    await bot.answer_pre_checkout_query(query.id, ok=True)
                    return

    answering = asyncio.create_task(answer_when_asked())
    reply = await alice.pay(wait=0.2, answer_within=5)
    await answering
    assert reply.result is not None and reply.result["status"] == "paid"
    payment = [
        u.message.successful_payment
        for u in await poll(bot)
        if u.message and u.message.successful_payment
    ]
    charge = payment[0].telegram_payment_charge_id  # type: ignore[union-attr]
    transactions = await bot.get_star_transactions()
    assert [(t.id, t.amount) for t in transactions.transactions] == [(charge, 50)]
    assert await bot.refund_star_payment(alice.id, charge)
    with pytest.raises(TelegramBadRequest, match="CHARGE_ALREADY_REFUNDED"):
        await bot.refund_star_payment(alice.id, charge)
    with pytest.raises(TelegramBadRequest, match="CHARGE_NOT_FOUND"):
        await bot.refund_star_payment(alice.id, "stxn-nope")
    assert len((await bot.get_star_transactions()).transactions) == 2


async def test_unanswered_or_declined_pre_checkout_fails_the_payment(
    sandbox: RunningSandbox, bot: Bot
) -> None:
    alice = await sandbox.client.user("Alice")
    await alice.send("hi", expect=False, wait=0.1)
    link = await bot.create_invoice_link(
        "Tea", "Green tea", "order:2", "XTR", [LabeledPrice(label="Tea", amount=7)]
    )
    assert link.startswith("https://t.me/$")
    late = await alice.pay(link=link, wait=0.1, answer_within=0.3)
    assert late.result == {
        "status": "failed",
        "reason": "the bot did not answer the pre-checkout query in time",
    }
    query = next(u.pre_checkout_query for u in await poll(bot) if u.pre_checkout_query)
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_pre_checkout_query(query.id, ok=True)

    async def decline() -> None:
        while True:
            for update in await poll(bot):
                if update.pre_checkout_query:
                    await bot.answer_pre_checkout_query(
                        update.pre_checkout_query.id, ok=False, error_message="Sold out"
                    )
                    return

    declining = asyncio.create_task(decline())
    declined = await alice.pay(link=link, wait=0.1, answer_within=5)
    await declining
    assert declined.result == {"status": "declined", "reason": "Sold out"}


async def test_flood_limits_answer_429_with_retry_after(sandbox: RunningSandbox, bot: Bot) -> None:
    alice = await sandbox.client.user("Alice")
    await alice.send("hi", expect=False, wait=0.1)
    await sandbox.client.set_limits(enabled=True, private_burst=3, private_rate=1.0)
    for _ in range(3):
        await bot.send_message(alice.id, "ok")
    with pytest.raises(TelegramRetryAfter) as error:
        await bot.send_message(alice.id, "one too many")
    assert error.value.retry_after >= 1


async def test_fault_injection(sandbox: RunningSandbox, bot: Bot) -> None:
    alice = await sandbox.client.user("Alice")
    await alice.send("hi", expect=False, wait=0.1)
    await sandbox.client.set_fault("sendMessage", too_many_requests=1.0, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as error:
        await bot.send_message(alice.id, "x")
    assert error.value.retry_after == 7
    await sandbox.client.set_fault("sendMessage", server_error=1.0)
    with pytest.raises(TelegramServerError):
        await bot.send_message(alice.id, "x")
    await sandbox.client.set_fault("sendMessage", drop=1.0)
    with pytest.raises(TelegramNetworkError):
        await bot.send_message(alice.id, "x")
    await sandbox.client.set_fault("getMe", delay=0.3)
    started = asyncio.get_running_loop().time()
    await bot.get_me()
    assert asyncio.get_running_loop().time() - started >= 0.3
    await sandbox.client.clear_faults()
    assert (await bot.send_message(alice.id, "fine")).text == "fine"
    with pytest.raises(Exception, match="share between 0 and 1"):
        await sandbox.client.set_fault("sendMessage", drop=2.0)


async def test_text_mentions_carry_the_whole_user(sandbox: RunningSandbox, bot: Bot) -> None:
    alice = await sandbox.client.user("Alice", username="alice")
    await alice.send("hi", expect=False, wait=0.1)
    sent = await bot.send_message(
        alice.id,
        f'<a href="tg://user?id={alice.id}">Alice</a> and <a href="tg://user?id=999">nobody</a>',
        parse_mode="HTML",
    )
    mentions = [e for e in sent.entities or [] if e.type == "text_mention"]
    assert len(mentions) == 1 and mentions[0].user is not None
    assert (mentions[0].user.id, mentions[0].user.first_name) == (alice.id, "Alice")
