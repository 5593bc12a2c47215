"""The preference page and ``/dev/outbox`` in a real headless browser (Debian's Chromium,
driven by Playwright without its own browser download), as a recipient would see them.

Outside CI a machine without Chromium skips these tests; in CI (``CI=true``) a missing
Chromium fails them: ``.ci/run`` installs it."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from litestar import Litestar

from backend.config import Environment
from backend.content.rendered import RenderedEmail
from backend.messaging.providers.base import OutgoingEmail
from backend.messaging.providers.capture import CaptureProvider
from backend.messaging.tracking import links
from backend.messaging.tracking.tokens import TrackedChannel
from tests.factories import make_world, session_of
from tests.messaging.tracking.helpers import consent_states, make_message, make_recipient

CHROMIUM = os.environ.get("LEVIER_TEST_CHROMIUM", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() == "true"

try:
    from playwright.async_api import Page, async_playwright
except ImportError:  # pragma: no cover
    if IN_CI:
        raise  # CI installs it: a missing package fails loudly there
    pytest.skip("playwright is not installed", allow_module_level=True)


def _chromium() -> str:
    if shutil.which(CHROMIUM) or os.path.exists(CHROMIUM):
        return CHROMIUM
    if IN_CI:
        pytest.fail(f"Chromium is missing at {CHROMIUM}: apt-get install -y chromium")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")


@contextlib.asynccontextmanager
async def http_server(app: Litestar) -> AsyncIterator[str]:
    """The app on a real port of 127.0.0.1 (its lifespan held by the ``client`` fixture). The
    socket listens before the server starts: the browser's first connection waits in its
    backlog instead of being refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", log_config=None, access_log=False))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@contextlib.asynccontextmanager
async def browser_page() -> AsyncIterator[Page]:
    executable = _chromium()
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(
            executable_path=executable, headless=True, chromium_sandbox=False
        )
        try:
            yield await browser.new_page()
        finally:
            await browser.close()


async def test_a_recipient_opts_out_of_a_topic_on_the_preference_page(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await make_recipient(app, world.brand_a.id, "ada@example.com")
    message = await make_message(app, ada)
    url = links.unsubscribe_url(
        app.state.settings,
        channel=TrackedChannel.EMAIL,
        tenant_id=ada.tenant,
        message_id=message,
        profile_id=ada.profile_id,
        topic="news",
    )
    path = "/" + url.split("://", 1)[1].split("/", 1)[1]
    async with http_server(app) as base, browser_page() as page:
        await page.goto(base + path)
        news = page.get_by_label("Newsletter")
        assert await news.is_checked()
        await news.uncheck()
        await page.get_by_role("button", name="Save my preferences").click()
        await page.locator("#saved").wait_for()
        assert not await page.get_by_label("Newsletter").is_checked()
        assert await page.get_by_label("Offers").is_checked()
    states = await consent_states(client, world, ada.profile_id)
    assert (states[("email", "news")], states[("email", "offers")]) == ("unsubscribed", "granted")


async def test_the_outbox_shows_captured_emails_as_rendered(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    world = await make_world(app)
    ada = await make_recipient(app, world.brand_a.id, "ada@example.com")
    message_id = await make_message(app, ada)
    rendered = RenderedEmail(
        subject="Your spring offers",
        preheader=None,
        html='<html><body><h1 style="color:#b91c1c">Hello Ada</h1>'
        '<p>Twenty percent off until Sunday.</p><script>document.body.dataset.pwned = "1"</script>'
        '<a href="https://shop.example/">Shop</a></body></html>',
        text="Hello Ada",
        links=("https://shop.example/",),
    )
    out = links.instrument_email(
        rendered,
        app.state.settings,
        tenant_id=ada.tenant,
        message_id=message_id,
        profile_id=ada.profile_id,
        topic="news",
    )
    async with session_of(app, ada.tenant) as session:
        await CaptureProvider(session).send(
            OutgoingEmail(
                message_id=message_id,
                tenant_id=ada.tenant,
                from_name="Brand A",
                from_address="news@brand-a.example",
                to_address="ada@example.com",
                subject=rendered.subject,
                html=out.html,
                text=rendered.text,
                headers=out.headers,
            )
        )
        await session.commit()
    answer = await client.get("/dev/outbox/")
    assert answer.status_code == 200
    assert "default-src 'none'" in answer.headers["content-security-policy"]
    async with http_server(app) as base, browser_page() as page:
        await page.goto(base + "/dev/outbox/")
        heading = page.get_by_role("heading", name="Your spring offers")
        await heading.wait_for()
        assert await page.get_by_text("ada@example.com").count() >= 1
        frame = page.frame_locator("iframe").first
        await frame.get_by_text("Twenty percent off until Sunday.").wait_for()
        assert await frame.locator("h1").inner_text() == "Hello Ada"
        # Sandboxed: the email's script never ran.
        assert await frame.locator("body[data-pwned]").count() == 0


async def test_the_outbox_is_not_served_in_production(
    app: Litestar, client: httpx.AsyncClient
) -> None:
    app.state.settings = app.state.settings.replace(env=Environment.PRODUCTION)
    assert (await client.get("/dev/outbox/")).status_code == 404
