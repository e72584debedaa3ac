"""The Mini App's first render in a real browser, against a bare page measured in the same run.

How it measures:
- **the shop under test** is ``tgshop demo`` (offline: SQLite, the demo catalog, the sandbox
  standing in for Telegram) in a child process on one core; the Mini App is opened with the
  sandbox's signed launch link for a new customer — the URL Telegram would open;
- **the browser** is Debian's chromium driven by Playwright, headless, on the other core, at
  a phone's size (390x844);
- **first render** is the time from the start of navigation until the first product card
  is in the page and until its picture has loaded (a script added before the page's own
  notes both with ``performance.now()``); the page's own data (the launch data, the words,
  the categories, the products, the customer) all come over HTTP from the shop on the way;
- **cold**: a fresh browser profile each time (nothing cached); **warm**: the same profile
  reloaded (the demo runs in development mode, so assets are revalidated with their ETag;
  in production they are cached for a year and not asked for at all);
- **baseline**: the same browser opening a bare page served by a bare FastAPI app (no tgshop
  import, same uvicorn setup) that holds 20 product cards as plain HTML — what a grid on
  localhost costs with nothing to fetch, sign or translate.

Target (issue "Mini App storefront"): first render under one second on localhost.

Usage: python -m bench.miniapp [--runs 10]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

from bench.bot import LOAD_CORE, SHOP_CORE, child, free_port, run_bare

TARGET_MS = 1000
VIEWPORT = {"width": 390, "height": 844}
# Notes when the first product card appears and when its picture has loaded.
WATCH = """
(() => {
  const marks = (window.__marks = {});
  const look = () => {
    const card = document.querySelector("#products .card, .card");
    if (card && marks.card === undefined) marks.card = performance.now();
    const img = card && card.querySelector("img");
    if (img && img.complete && img.naturalWidth && marks.picture === undefined) {
      marks.picture = performance.now();
    }
    if (marks.card === undefined || (img && marks.picture === undefined)) {
      requestAnimationFrame(look);
    }
  };
  requestAnimationFrame(look);
})();
"""


def serve_bare(port: int) -> None:
    """Child-process entry: a page with 20 product cards as plain HTML."""
    from fastapi import FastAPI
    from fastapi.responses import HTMLResponse

    cards = "".join(
        f'<li class="card"><a href="#"><b>Sencha No. {n}</b>'
        f"<span>from {5 + n}.90 USD</span></a></li>"
        for n in range(1, 21)
    )
    page = (
        '<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" '
        'content="width=device-width, initial-scale=1"><title>Bare</title><style>'
        "ul{display:grid;grid-template-columns:1fr 1fr;gap:10px;list-style:none;padding:0}"
        ".card{background:#eee;border-radius:12px;padding:10px}</style></head><body>"
        f'<main><input type="search" aria-label="Search"><ul id="products">{cards}</ul>'
        "</main></body></html>"
    )
    app = FastAPI()

    @app.get("/", response_class=HTMLResponse)
    async def index() -> str:
        return page

    run_bare(app, port)


def answers(url: str) -> Any:
    """A readiness check for ``child``: true once ``url`` answers 200."""

    async def ready() -> bool:
        async with httpx.AsyncClient(timeout=1) as client:
            try:
                return (await client.get(url)).status_code == 200
            except httpx.TransportError:
                return False

    return ready


async def launch_link(base: str) -> str:
    async with httpx.AsyncClient(base_url=f"{base}/sandbox/api", timeout=10) as sandbox:
        made = await sandbox.post("/users", json={"first_name": "Bench", "language_code": "en"})
        person = made.json()["result"]
        opened = await sandbox.post(f"/users/{person['id']}/web-app", json={"url": f"{base}/app"})
        return str(opened.json()["result"]["url"])


async def render_times(url: str, runs: int) -> dict[str, list[float]]:
    from playwright.async_api import async_playwright

    times: dict[str, list[float]] = {"cold card": [], "cold picture": [], "warm card": []}
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--headless", "--no-sandbox", "--disable-gpu"],
        )
        try:
            for _ in range(runs):
                context = await browser.new_context(viewport=VIEWPORT)  # empty cache
                await context.add_init_script(WATCH)
                page = await context.new_page()
                marks = await _open(page, url, picture=True)
                times["cold card"].append(marks["card"])
                if "picture" in marks:
                    times["cold picture"].append(marks["picture"])
                await page.reload()
                marks = await _open(page, None, picture=False)
                times["warm card"].append(marks["card"])
                await context.close()
        finally:
            await browser.close()
    return {name: values for name, values in times.items() if values}


async def _open(page: Any, url: str | None, *, picture: bool) -> dict[str, float]:
    if url is not None:
        await page.goto(url)
    # Polled from here: the page CSP forbids the eval that wait_for_function needs.
    for _ in range(750):
        marks = await page.evaluate("window.__marks || {}")
        shown = "card" in marks and (not picture or "picture" in marks)
        if shown or ("card" in marks and not await page.query_selector(".card img")):
            return dict(marks)
        await asyncio.sleep(0.02)
    raise RuntimeError("no product card within 15 s")


def line(name: str, values: list[float]) -> str:
    return (
        f"    {name:<34} median {statistics.median(values):6.0f} ms   best {min(values):6.0f} ms"
        f"   worst {max(values):6.0f} ms   ({len(values)} runs)"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    print(
        f"bench.miniapp: {args.runs} cold and {args.runs} warm opens at {VIEWPORT['width']}x"
        f"{VIEWPORT['height']}; servers on cpu{SHOP_CORE}, chromium on cpu{LOAD_CORE}",
        flush=True,
    )
    os.sched_setaffinity(0, {LOAD_CORE})  # chromium, started from here, inherits it
    results: dict[str, dict[str, list[float]]] = {}
    with tempfile.TemporaryDirectory() as workdir:
        bare_port = free_port()
        async with child(
            "bare page",
            [sys.executable, "-m", "bench.miniapp", "--serve-bare", str(bare_port)],
            bare_port,
            SHOP_CORE,
            ready=answers(f"http://127.0.0.1:{bare_port}/"),
        ):
            results["bare page"] = await render_times(f"http://127.0.0.1:{bare_port}/", args.runs)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        async with child(
            "tgshop demo",
            [sys.executable, "-m", "tgshop", "demo", "--port", str(port)],
            port,
            SHOP_CORE,
            ready=answers(f"{base}/ready"),
            cwd=workdir,
            log=Path(workdir) / "demo.log",
        ):
            results["tgshop Mini App"] = await render_times(await launch_link(base), args.runs)
    for name, times in results.items():
        print(f"  {name}:")
        for what, values in times.items():
            print(line(what, values))
    shop = statistics.median(results["tgshop Mini App"]["cold picture"])
    verdict = "met" if shop < TARGET_MS else "NOT met"
    print(
        f"target (issue 'Mini App storefront': first render under {TARGET_MS} ms on localhost):"
        f" cold, first product with its picture, median {shop:.0f} ms ({verdict})"
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--serve-bare":
        serve_bare(int(sys.argv[2]))
    else:
        if not Path("/usr/bin/chromium").exists():
            sys.exit("bench.miniapp needs Debian's chromium (apt-get install chromium)")
        asyncio.run(main())
