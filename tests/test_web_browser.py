"""The campaign page and the widget in a real browser: Chromium, driven by Playwright.

The system's Chromium (Debian's ``chromium`` package; ``CHROMIUM`` names another) loads
the page in English, Arabic and Chinese, and a test page of a "campaign site" on
another origin that embeds the widget with the one-line script; a signature made
through the emulator, by a simulated person talking to the running bot, moves the
widget's count without a reload. Screenshots go to ``build/screenshots/`` for a person
to look at. Without Chromium these tests skip, with the reason, except under CI
(``.ci/run`` installs it), where a skip would hide them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.site import campaign_site, serve
from tests.fixtures.botapp import free_port
from tests.test_signing_e2e import sign_as, up_to_review

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "build" / "screenshots"
CAMPAIGN = "xinjiang"
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if CHROMIUM is None:
        reason = "Chromium is not installed (apt install chromium, or set CHROMIUM): the browser tests did not run"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.async_api import async_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
async def signing_bot(start_one_bot: Any) -> AsyncIterator[tuple[Any, str]]:
    """The bot with its real conversation, and its page served beside it as ``python -m bot web`` does."""
    bot = await start_one_bot(core="real")
    port, stop = free_port(), asyncio.Event()
    serving = asyncio.create_task(serve(campaign_site(bot.core.services), "127.0.0.1", port, stop))
    await asyncio.sleep(0.2)
    try:
        yield bot, f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        await serving


@pytest.mark.parametrize(
    ("lang", "direction", "words"),
    [("en", "ltr", "people have signed"), ("ar", "rtl", "احتجّوا"), ("zh-Hant", "ltr", "簽署這封信")],
)
async def test_the_page_in_a_browser(
    browser: Any, signing_bot: tuple[Any, str], lang: str, direction: str, words: str
) -> None:
    bot, base = signing_bot
    page = await browser.new_page(locale=lang)
    await page.goto(f"{base}/c/{CAMPAIGN}?lang={lang}&s=poster_test")
    assert await page.evaluate("[document.documentElement.lang, document.dir]") == [lang, direction]
    sign = page.locator("a.sign")
    assert await sign.get_attribute("href") == f"https://t.me/{bot.app.info.username}?start=poster_test"
    assert await page.locator("progress").get_attribute("value") == "0"
    assert words in await page.inner_text("body")
    # The QR code loaded (an image the browser decoded), with its text alternative.
    qr = page.locator("figure img")
    assert await qr.evaluate("image => image.complete && image.naturalWidth > 0")
    assert (await qr.get_attribute("alt") or "").strip()
    # Readable on a phone: nothing wider than the screen.
    await page.set_viewport_size({"width": 360, "height": 740})
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await page.screenshot(path=str(SCREENSHOTS / f"page-{lang}.png"), full_page=True)
    await page.close()


async def test_the_widget_on_another_site_moves_when_someone_signs(browser: Any, signing_bot: tuple[Any, str]) -> None:
    from playwright.async_api import expect

    bot, base = signing_bot
    # A campaign site on another origin, with the one line the campaign page offers to copy.
    site = web.Application()
    snippet = f'<script src="{base}/c/{CAMPAIGN}/embed.js" data-lang="en" data-source="partner" data-every="1" async></script>'

    async def partner_page(_request: web.Request) -> web.Response:
        return web.Response(
            text=f"<!doctype html><title>Partner</title><h1>Our partner page</h1>{snippet}", content_type="text/html"
        )

    site.router.add_get("/", partner_page)
    runner = web.AppRunner(site)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        page = await browser.new_page()
        await page.goto(f"http://127.0.0.1:{port}/")
        frame_element = await page.wait_for_selector("iframe", timeout=10_000)
        frame = await frame_element.content_frame()
        assert frame is not None
        await frame.wait_for_selector("#count-text")
        assert await frame.inner_text("#count-text") == "0 people have signed"
        assert await frame.locator("a.sign").get_attribute("href") == (
            f"https://t.me/{bot.app.info.username}?start=partner"
        )
        await page.screenshot(path=str(SCREENSHOTS / "widget-before.png"))

        # Someone signs in Telegram (the emulator), the widget moves without a reload.
        ada = bot.emulator.user(4242, first_name="Ada", language_code="en")
        await up_to_review(ada, "Ada Lovelace")
        await sign_as(ada, "Ada Lovelace")
        await expect(frame.locator("#count-text")).to_have_text("1 person has signed", timeout=15_000)
        assert await frame.locator("#bar").get_attribute("data-count") == "1"
        await page.screenshot(path=str(SCREENSHOTS / "widget-after.png"))
        await page.close()
    finally:
        await runner.cleanup()
