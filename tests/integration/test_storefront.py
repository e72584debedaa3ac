"""The Mini App's pages and what they lean on, over HTTP (our FastAPI app in process): the
page shell and its versioned assets (every module it imports is served), Telegram's script
only when the shop talks to the real Telegram, the page's words in English and Russian (no
word the pages use is missing from the catalogs), the shop's ways to pay, and product
thumbnails. SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import get_args

import httpx
import pytest
from PIL import Image

from tests.integration.test_catalog_cache import write_catalog
from tests.support.factories import make_images, make_product
from tests.support.fakes import FrozenClock
from tgshop.api.app import create_http_app
from tgshop.api.middleware import PAGE_CSP
from tgshop.api.v1.schemas import PaymentMethod
from tgshop.app import build_container
from tgshop.bot.keyboards import mini_app_url
from tgshop.config import Settings
from tgshop.db.engine import Database
from tgshop.domain.orders import OrderStatus, PaymentStatus
from tgshop.domain.refunds import Ineligible
from tgshop.i18n import Translator
from tgshop.services.cart import LineProblem

TOKEN = "424242:AAsandboxTokenForTheMiniApp_0123456789"
SANDBOX = "http://127.0.0.1:8099"
WEB_APP = Path(str(files("tgshop").joinpath("web/app")))


@pytest.fixture
def client_for(
    make_settings: Callable[..., Settings], db: Database, db_url: str, clock: FrozenClock
) -> Callable[..., AsyncIterator[httpx.AsyncClient]]:
    @asynccontextmanager
    async def client(**sections: dict) -> AsyncIterator[httpx.AsyncClient]:
        telegram = {"bot_token": TOKEN, "telegram_api_url": SANDBOX} | sections.pop("telegram", {})
        settings = make_settings(database={"url": db_url}, telegram=telegram, **sections)
        app = create_http_app(build_container(settings, db=db, clock=clock))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http

    return client


def scripts() -> list[Path]:
    return sorted(WEB_APP.rglob("*.js"))


def referenced(text: str) -> list[str]:
    """The asset paths a shell or a module names (href/src, static and dynamic imports)."""
    found = re.findall(r'(?:href|src)="(/app/assets/[^"]+)"', text)
    found += re.findall(r'(?:from|import\()\s*"(\.{1,2}/[^"]+)"', text)
    return found


async def test_the_shell_serves_every_module_it_needs_and_nothing_from_outside(
    client_for: Callable[..., AsyncIterator[httpx.AsyncClient]],
) -> None:
    async with client_for(shop={"name": "Tea <b>&</b> Co"}) as api:
        shell = await api.get("/app")
        assert shell.status_code == 200
        assert shell.headers["content-type"].startswith("text/html")
        assert shell.headers["content-security-policy"] == PAGE_CSP
        assert shell.headers["cache-control"] == "no-cache"
        assert "telegram.org" not in shell.text  # the sandbox plays Telegram: nothing outside
        assert "<title>Tea &lt;b&gt;&amp;&lt;/b&gt; Co</title>" in shell.text
        assert "%" not in re.sub(r"%[0-9A-F]{2}", "", shell.text)  # every placeholder filled

        # Walk the module graph from the shell: every file it reaches is served, typed.
        todo = [(p, "/") for p in referenced(shell.text)]
        seen: dict[str, str] = {}
        while todo:
            ref, base = todo.pop()
            url = ref if ref.startswith("/") else str(Path(base).parent / ref).replace("\\", "/")
            url = re.sub(r"/[^/]+/\.\./", "/", url)
            if url in seen:
                continue
            answer = await api.get(url)
            assert answer.status_code == 200, url
            seen[url] = answer.headers["content-type"]
            if url.endswith(".js"):
                todo += [(p, url) for p in referenced(answer.text)]
        kinds = {u.rsplit(".", 1)[-1]: t for u, t in seen.items()}
        assert kinds["js"].startswith("text/javascript")
        assert kinds["css"].startswith("text/css")
        modules = {u.rsplit("/", 1)[-1] for u in seen if u.endswith(".js")}
        on_disk = {p.name for p in scripts()}
        assert modules == on_disk  # no module left unreachable, none missing

        assert (await api.get("/app/assets/0/js/nope.js")).status_code == 404


async def test_in_production_assets_are_immutable_and_telegram_script_is_loaded(
    client_for: Callable[..., AsyncIterator[httpx.AsyncClient]],
) -> None:
    production = {
        "public_url": "https://shop.test",
        "webhook_secret": "s3cr3t-" + "x" * 20,
        "manager_chat_id": -100,
        "telegram_api_url": "https://api.telegram.org",
    }
    async with client_for(app={"env": "production"}, telegram=production) as api:
        shell = (await api.get("/app/")).text
        assert '<script src="https://telegram.org/js/telegram-web-app.js"></script>' in shell
        css = re.search(r'href="(/app/assets/([0-9a-f]{12})/app\.css)"', shell)
        assert css is not None
        first = await api.get(css.group(1))
        assert first.headers["cache-control"] == "public, max-age=31536000, immutable"
        again = await api.get(css.group(1), headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        # A shell from before a release asks for its version: today's file, not kept long.
        old = await api.get("/app/assets/000000000000/app.css")
        assert old.status_code == 200 and old.headers["cache-control"] == "no-cache"


async def test_the_pages_words_come_in_english_and_russian(
    client_for: Callable[..., AsyncIterator[httpx.AsyncClient]],
) -> None:
    async with client_for() as api:
        ru = await api.get("/app/texts/ru.json")
        assert ru.status_code == 200 and ru.headers["cache-control"].startswith("public")
        words = ru.json()
        assert words["app.cart.title"] == "Корзина"
        assert "order.status.confirmed" in words
        assert not [k for k in words if not k.startswith(("app.", "order.status."))]
        again = await api.get("/app/texts/ru.json", headers={"If-None-Match": ru.headers["etag"]})
        assert again.status_code == 304
        # A language we do not speak gets English; a path that is no language is refused.
        assert (await api.get("/app/texts/de-DE.json")).json()["app.cart.title"] == "Cart"
        assert (await api.get("/app/texts/..%2Fetc.json")).status_code in (404, 422)


def test_no_word_the_pages_show_is_missing_from_the_catalogs() -> None:
    """Every key the scripts name literally, and every key they build from a code the API
    returns (statuses, problems, methods, refusals), is in English and in Russian."""
    translator = Translator.load()
    english = translator.get("en").starting_with("app.", "order.status.")
    russian = translator.get("ru")
    used: set[str] = set()
    for script in scripts():
        used |= set(re.findall(r'"((?:app|order\.status)\.[a-z_.]+[a-z_])"', script.read_text()))
    used |= {"app.skip", "app.nav.back", "app.nav.orders", "app.nav.profile", "app.nav.cart"}
    used |= {f"app.cart.problem.{p.value}" for p in LineProblem}
    used |= {f"app.payment_status.{s.value}" for s in PaymentStatus}
    used |= {f"order.status.{s.value}" for s in OrderStatus}
    used |= {f"app.refund.refused.{r.value}" for r in Ineligible}
    used |= {f"app.pay.method.{m}" for m in get_args(PaymentMethod)}
    used |= {f"app.language.{code}" for code in translator.locales}
    # Refusals the pages word themselves (main.js explain()); others get a generic sentence.
    used |= {
        f"app.error.code.{code}"
        for code in (
            "out_of_stock",
            "price_changed",
            "insufficient_funds",
            "not_payable",
            "empty_cart",
            "not_found",
            "illegal_transition",
            "delivery_problem",
            "validation_error",
            "rate_limited",
            "service_unavailable",
        )
    }
    for field, reasons in {
        "name": ["length", "no_letters", "invalid_characters"],
        "phone": ["length", "invalid", "country_code"],
        "address": ["length", "invalid_characters"],
        "comment": ["length", "too_long", "invalid_characters"],
        "location": ["invalid"],
    }.items():
        used |= {f"app.problem.{field}.{reason}" for reason in reasons}
    assert len(used) > 100
    assert sorted(used - set(english)) == []
    assert sorted(k for k in used if not russian.has(k)) == []


async def test_the_shop_says_how_it_takes_money(
    client_for: Callable[..., AsyncIterator[httpx.AsyncClient]],
) -> None:
    async with client_for(shop={"name": "Leaf"}) as api:
        shop = await api.get("/api/v1/shop")
        assert shop.status_code == 200
        assert shop.json() == {
            "name": "Leaf",
            "currency": "USD",
            "payment_methods": ["stars", "wallet"],
        }
    async with client_for(payments={"card_provider_token": "284685063:TEST:abc"}) as api:
        methods = (await api.get("/api/v1/shop")).json()["payment_methods"]
        assert methods == ["stars", "card", "wallet"]


async def test_thumbnails_are_resized_once_and_never_enlarged(
    client_for: Callable[..., AsyncIterator[httpx.AsyncClient]], db: Database
) -> None:
    product = await make_product(db, "Teapot")
    [big] = await make_images(db, product.id, 1, size=(1000, 500))
    [small] = await make_images(db, product.id, 1, size=(200, 100))
    async with client_for() as api:
        original = await api.get(f"/api/v1/media/{big}")
        assert original.headers["content-type"] == "image/png"

        thumb = await api.get(f"/api/v1/media/{big}", params={"w": 300})
        assert thumb.status_code == 200
        assert thumb.headers["cache-control"] == "public, max-age=86400"
        with Image.open(io.BytesIO(thumb.content)) as image:
            assert image.size == (320, 160)  # the next width up, proportions kept
            assert thumb.headers["content-type"] == f"image/{image.format.lower()}"
        assert len(thumb.content) < len(original.content)
        repeat = await api.get(f"/api/v1/media/{big}", params={"w": 320})
        assert repeat.content == thumb.content
        cached = await api.get(
            f"/api/v1/media/{big}",
            params={"w": 320},
            headers={"If-None-Match": thumb.headers["etag"]},
        )
        assert cached.status_code == 304

        huge = await api.get(f"/api/v1/media/{big}", params={"w": 5000})
        with Image.open(io.BytesIO(huge.content)) as image:
            assert image.size == (1000, 500)  # at most the largest thumbnail, never enlarged
        narrow = await api.get(f"/api/v1/media/{small}", params={"w": 640})
        assert narrow.content == (await api.get(f"/api/v1/media/{small}")).content

        assert (await api.get(f"/api/v1/media/{big}", params={"w": 0})).status_code == 422
        assert (await api.get(f"/api/v1/media/{big}", params={"w": "x"})).status_code == 422
        assert (await api.get("/api/v1/media/999999", params={"w": 320})).status_code == 404


def test_the_open_shop_button_needs_https_except_on_this_machine() -> None:
    assert mini_app_url("https://shop.example") == "https://shop.example/app"
    assert mini_app_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080/app"
    assert mini_app_url("http://localhost:8080") == "http://localhost:8080/app"
    assert mini_app_url("http://shop.example") is None
    assert mini_app_url(None) is None


async def test_catalog_answers_are_reused_until_the_catalog_changes(
    make_settings: Callable[..., Settings],
    db: Database,
    db_url: str,
    clock: FrozenClock,
    tmp_path: Path,
) -> None:
    """A page served from the catalog memory is not rendered again for every request, and an
    import through the shop shows in the very next answer (a new body, a new ETag)."""
    settings = make_settings(database={"url": db_url}, shop={"catalog_cache_seconds": 60})
    container = build_container(settings, db=db, clock=clock)
    path = tmp_path / "catalog.json"
    await container.catalog.import_catalog(write_catalog(path, "9.90"), shop_currency="USD")
    transport = httpx.ASGITransport(app=create_http_app(container))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
        urls = ["/api/v1/products", "/api/v1/categories"]
        first = [await api.get(url) for url in urls]
        again = [await api.get(url) for url in urls]
        assert [a.content for a in again] == [f.content for f in first]
        assert [a.headers["etag"] for a in again] == [f.headers["etag"] for f in first]
        sencha = first[0].json()["items"][0]
        assert sencha["price_from"]["display"] == "9.90 USD"
        detail = await api.get(f"/api/v1/products/{sencha['id']}")

        await container.catalog.import_catalog(write_catalog(path, "11.00"), shop_currency="USD")
        changed = await api.get("/api/v1/products")
        assert changed.json()["items"][0]["price_from"]["display"] == "11.00 USD"
        assert changed.headers["etag"] != first[0].headers["etag"]
        fresh = await api.get(f"/api/v1/products/{sencha['id']}")
        assert fresh.json()["variants"][0]["price"]["display"] == "11.00 USD"
        assert fresh.headers["etag"] != detail.headers["etag"]
