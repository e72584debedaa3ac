"""The sandbox chat page in a real browser: a person chats with a real aiogram bot.

Chromium (Debian's, via Playwright) opens /sandbox/, creates a person, sends /start, sees
the bot's HTML answer rendered from its entities, presses an inline button, sees the edit
and the callback answer, and watches the managers' group in the side panel.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.filters import CommandStart
from aiogram.types import (
    BufferedInputFile,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LabeledPrice,
    Message,
    PreCheckoutQuery,
    ReplyKeyboardMarkup,
)
from PIL import Image
from playwright.async_api import expect

from tests.support.browser import browser_page
from tests.support.sandbox import RunningSandbox
from tgshop.sandbox.core import Sandbox
from tgshop.sandbox.runner import serving
from tgshop.sandbox.server import create_sandbox_app

pytestmark = pytest.mark.timeout(90)


def shop_router(managers_chat_id: int) -> Router:
    router = Router()

    @router.message(CommandStart())
    async def start(message: Message) -> None:
        menu = InlineKeyboardMarkup(
            inline_keyboard=[[InlineKeyboardButton(text="Catalog", callback_data="catalog")]]
        )
        name = message.from_user.first_name if message.from_user else "friend"
        # The emoji is two UTF-16 units: entity offsets after it must still land right.
        await message.answer(
            f"🍵 Welcome, <b>{name}</b>! Try <i>our</i> <code>teas</code>"
            ' or <a href="https://example.com/tea">read more</a>.',
            parse_mode="HTML",
            reply_markup=menu,
        )

    @router.callback_query(F.data == "catalog")
    async def catalog(query: CallbackQuery, bot: Bot) -> None:
        assert isinstance(query.message, Message)
        await query.message.edit_text("Catalog: <b>Sencha</b>, Matcha", parse_mode="HTML")
        await query.answer("Opened")
        await bot.send_message(
            managers_chat_id, f"{query.from_user.first_name} browses the catalog"
        )
        keyboard = ReplyKeyboardMarkup(
            keyboard=[
                [
                    KeyboardButton(text="Cart"),
                    KeyboardButton(text="Share phone", request_contact=True),
                ]
            ],
            resize_keyboard=True,
        )
        await query.message.answer_photo(
            BufferedInputFile(tea_picture(), "sencha.png"),
            caption="<b>Sencha</b>, steamed green tea",
            parse_mode="HTML",
            reply_markup=keyboard,
        )
        await query.message.answer_photo("https://example.com/matcha.jpg", caption="Matcha")
        await query.message.answer_invoice(
            title="Sencha 100 g",
            description="Steamed green tea from Shizuoka",
            payload="order-1",
            currency="EUR",
            prices=[LabeledPrice(label="Sencha 100 g", amount=990)],
            provider_token="sandbox-provider",
        )

    @router.pre_checkout_query()
    async def pre_checkout(query: PreCheckoutQuery) -> None:
        await query.answer(ok=True)

    @router.message(F.successful_payment)
    async def paid(message: Message) -> None:
        await message.answer("Thank you! Order <b>#1</b> is paid.", parse_mode="HTML")

    @router.message(F.contact)
    async def contact(message: Message) -> None:
        assert message.contact is not None
        await message.answer(f"Thanks, we will call {message.contact.phone_number}")

    return router


def tea_picture() -> bytes:
    image = Image.new("RGB", (480, 300), (94, 140, 60))
    image.paste((200, 220, 150), (40, 40, 440, 260))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


@asynccontextmanager
async def polling_bot(sandbox: RunningSandbox, router: Router) -> AsyncIterator[None]:
    bot = sandbox.bot()
    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    polling = asyncio.create_task(
        dispatcher.start_polling(bot, handle_signals=False, polling_timeout=1)
    )
    try:
        yield
    finally:
        await dispatcher.stop_polling()
        await polling
        await bot.session.close()


async def test_a_person_chats_with_the_bot_in_the_browser(sandbox: RunningSandbox) -> None:
    manager = await sandbox.client.user("Maria", username="maria_manager")
    group = await sandbox.client.group("Orders", [manager])
    async with (
        polling_bot(sandbox, shop_router(group["id"])),
        browser_page(width=1360, height=860) as browser,
    ):
        page = browser.page
        await page.goto(f"{sandbox.url}/sandbox/")
        await expect(page.get_by_role("heading", name="Telegram sandbox")).to_be_visible()
        await expect(page.locator("#bot-name")).to_have_text("Test Shop")

        # A new person, created in the page (a first visit opens the form).
        await expect(page.get_by_role("button", name="Create a person")).to_have_attribute(
            "aria-expanded", "true"
        )
        await page.get_by_label("First name").fill("Alice")
        await page.get_by_label("Username").fill("alice_tea")
        await page.get_by_label("Language").select_option("en")
        await page.get_by_role("button", name="Create and chat").click()
        await expect(page.locator("#user-select option:checked")).to_contain_text("Alice")

        chat = page.locator("#main-chat .chat")
        await expect(chat.locator(".chat-title")).to_have_text("Test Shop")
        await chat.get_by_label("Message", exact=True).fill("/start")
        await chat.get_by_label("Message", exact=True).press("Enter")

        welcome = chat.locator(".message.from-bot").first
        await expect(welcome.locator(".text")).to_have_text(
            "🍵 Welcome, Alice! Try our teas or read more."
        )
        await expect(welcome.locator(".text b")).to_have_text("Alice")
        await expect(welcome.locator(".text i")).to_have_text("our")
        await expect(welcome.locator(".text code")).to_have_text("teas")
        link = welcome.locator(".text a")
        await expect(link).to_have_text("read more")
        await expect(link).to_have_attribute("href", "https://example.com/tea")
        await expect(chat.locator(".message.out .text")).to_have_text("/start")

        # The inline button: the message is edited and the answer shows as a toast.
        await welcome.get_by_role("button", name="Catalog").click()
        await expect(page.locator(".toast", has_text="Opened")).to_be_visible()
        await expect(welcome.locator(".text")).to_have_text("Catalog: Sencha, Matcha")
        await expect(welcome.locator(".text b")).to_have_text("Sencha")
        await expect(welcome.locator(".edited")).to_have_text("edited")
        await expect(welcome.get_by_role("button", name="Catalog")).to_have_count(0)

        # The managers' group, live in the side panel beside the chat.
        panel = page.locator("#side-panel")
        await expect(panel).to_be_visible()
        await expect(panel.locator(".chat-title")).to_have_text("Orders")
        await expect(panel.locator(".message .text")).to_have_text("Alice browses the catalog")
        await expect(page.locator("#chat-list .chat-item")).to_have_count(2)

        # Photos (an upload is shown; a URL photo, never fetched offline, shows its URL),
        # an invoice, and the reply keyboard the photo brought.
        photo = chat.locator(".message.from-bot .photo img")
        await expect(photo).to_have_count(1)
        assert await photo.evaluate("img => img.decode().then(() => img.naturalWidth)") == 480
        await expect(chat.locator(".message.from-bot .text b").nth(1)).to_have_text("Sencha")
        await expect(chat.locator(".photo-placeholder a")).to_have_text(
            "https://example.com/matcha.jpg"
        )
        invoice = chat.locator(".message.from-bot", has=page.locator(".invoice"))
        await expect(invoice.locator(".invoice-title")).to_have_text("Sencha 100 g")
        await expect(invoice.locator(".invoice-amount")).to_contain_text("9.90")
        keyboard = chat.get_by_role("group", name="The bot's keyboard")
        await expect(keyboard.get_by_role("button")).to_have_text(["Cart", "Share phone"])

        # Paying: pre-checkout answered by the bot, then the payment and its thanks.
        await invoice.get_by_role("button", name="Pay").click()
        await expect(chat.locator(".service")).to_contain_text("You paid")
        await expect(invoice.locator(".badge-paid")).to_have_text("Paid")
        await expect(invoice.get_by_role("button", name="Paid ✓")).to_be_disabled()
        await expect(chat.locator(".message.from-bot .text").last).to_have_text(
            "Thank you! Order #1 is paid."
        )

        # A reply keyboard button that shares the phone number.
        await keyboard.get_by_role("button", name="Share phone").click()
        await expect(chat.locator(".message.out .contact")).to_contain_text("+1202555")
        await expect(chat.locator(".message.from-bot .text").last).to_contain_text(
            "Thanks, we will call +1202555"
        )
        await expect(page.locator("#chat-list .chat-item").first).to_contain_text("Thanks")

        # What a person types is text, never markup.
        await chat.get_by_label("Message", exact=True).fill("<i>plain</i> & text")
        await chat.get_by_label("Message", exact=True).press("Enter")
        typed = chat.locator(".message.out .text").last
        await expect(typed).to_have_text("<i>plain</i> & text")
        await expect(typed.locator("i")).to_have_count(0)

        await browser.screenshot("sandbox-chat")
        # The only console error allowed: the URL photo's bytes are not in the sandbox.
        unexpected = [e for e in browser.errors if "/sandbox/api/files/" not in e]
        assert unexpected == [], unexpected


async def test_the_page_says_when_there_is_no_bot_or_no_answer() -> None:
    sandbox = Sandbox()
    sandbox.limits.enabled = False
    async with serving(create_sandbox_app(sandbox)) as url, browser_page() as browser:
        page = browser.page
        await page.goto(f"{url}/sandbox/")
        await expect(page.get_by_role("heading", name="No bot yet")).to_be_visible()

        # A bot appears (nobody runs it): the page notices by itself.
        sandbox.add_bot("5555:silent-bot-token", username="silent_bot", first_name="Silent")
        await expect(page.locator("#bot-name")).to_have_text("Silent")
        await page.get_by_label("First name").fill("Bob")
        await page.get_by_role("button", name="Create and chat").click()
        chat = page.locator("#main-chat .chat")
        await chat.get_by_role("button", name="Start").click()
        await expect(chat.locator(".message.out .text")).to_have_text("/start")
        await expect(chat.locator(".notice")).to_contain_text(
            "The bot has not answered yet", timeout=15_000
        )
        await expect(chat.locator(".notice")).to_contain_text("never called the sandbox")
        await browser.screenshot("sandbox-no-answer")
        assert browser.errors == []


RENDER_CASES = """
async () => {
  const { renderText } = await import("./static/format.js");
  const html = (text, entities) => {
    const box = document.createElement("div");
    box.append(renderText(text, entities));
    return box.innerHTML;
  };
  return [
    // UTF-16 offsets after an emoji; an entity crossing another's end is split in two.
    html("😀 bold italic", [
      { type: "bold", offset: 3, length: 11 },
      { type: "underline", offset: 5, length: 5 },
      { type: "italic", offset: 8, length: 6 },
    ]),
    html("run x", [{ type: "pre", offset: 0, length: 5, language: "sh" }]),
    html("click <b>", [{ type: "text_link", offset: 0, length: 5, url: "javascript:alert(1)" }]),
    html("a spoiler", [{ type: "spoiler", offset: 2, length: 7 }]),
  ];
}
"""


async def test_entities_become_nested_elements_and_text_stays_text(
    sandbox: RunningSandbox,
) -> None:
    async with browser_page() as browser:
        await browser.page.goto(f"{sandbox.url}/sandbox/")
        rendered = await browser.page.evaluate(RENDER_CASES)
    assert rendered == [
        "😀 <b>bo<u>ld <i>it</i></u><i>alic</i></b>",
        '<pre data-language="sh"><code class="language-sh">run x</code></pre>',
        '<span class="link-unsafe" title="javascript:alert(1)">click</span> &lt;b&gt;',
        'a <span class="spoiler" tabindex="0" role="button" aria-label="Spoiler: press to reveal">'
        "spoiler</span>",
    ]
    assert browser.errors == []
