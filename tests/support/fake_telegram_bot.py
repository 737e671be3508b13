"""Our real Telegram bot running against the fake Bot API server, in polling or webhook mode
(webhook: inside the web app, served by a real uvicorn on a free loopback port)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import uvicorn

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.platforms.telegram.app import TelegramPlatform
from stationthis.platforms.web.app import create_app
from stationthis.workflows.app import App
from tests.support.fake_telegram import FakeTelegram, FakeUser
from tests.support.fake_telegram_objects import JSON, FakeChat


@dataclass
class Running:
    fake: FakeTelegram
    app: App
    bot: TelegramPlatform
    settings: Settings
    url: str | None = None  # the web app's base URL (webhook mode)


def bot_settings(fake: FakeTelegram, make_settings: Callable[..., Settings], mode: str,
                 **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram_token": fake.token, "telegram_api_url": f"http://127.0.0.1:{fake.port}",
        "telegram_mode": mode, "notify_progress_interval": 0.02, "telegram_edit_interval": 0.0,
    }
    values.update(overrides)
    return make_settings(**values)


@contextlib.asynccontextmanager
async def run_bot(fake: FakeTelegram, make_settings: Callable[..., Settings], *,
                  mode: str = "polling", engine: Any = None,
                  **overrides: Any) -> AsyncIterator[Running]:
    """Build the app and the bot, start both, yield, stop both."""
    if mode == "webhook":
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        settings = bot_settings(fake, make_settings, mode, public_url=url, **overrides)
        app = build(settings, **({"engine": engine} if engine is not None else {}))
        bot = TelegramPlatform(app, settings)
        web = create_app(app, hosted=[bot])
        server = uvicorn.Server(uvicorn.Config(web, log_level="warning", lifespan="on"))
        task = asyncio.create_task(server.serve(sockets=[sock]))
        try:
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
            yield Running(fake, app, bot, settings, url)
        finally:
            server.should_exit = True
            await task
            sock.close()
        return
    settings = bot_settings(fake, make_settings, mode, **overrides)
    app = build(settings, **({"engine": engine} if engine is not None else {}))
    bot = TelegramPlatform(app, settings, poll_timeout=1)
    await app.start()
    try:
        await bot.start()
        try:
            yield Running(fake, app, bot, settings)
        finally:
            await bot.stop()
    finally:
        await app.stop()


async def wait_message(fake: FakeTelegram, chat: FakeUser | FakeChat | int,
                       predicate: Callable[[JSON], bool], timeout: float = 10.0) -> JSON:
    """The first message in the chat (as it is now) that matches."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        for message in fake.messages_in(chat):
            if predicate(message):
                return message
        remaining = deadline - loop.time()
        if remaining <= 0:
            seen = [m.get("text") or m.get("caption") or list(m) for m in fake.messages_in(chat)]
            raise TimeoutError(f"no matching message after {timeout}s; chat has {seen}")
        await fake._wait_changed(min(remaining, 0.2))


def from_bot(message: JSON) -> bool:
    return bool(message.get("from", {}).get("is_bot"))


def text_of(message: JSON) -> str:
    return str(message.get("text") or message.get("caption") or "")


def buttons(message: JSON) -> dict[str, str]:
    """Button text → callback data."""
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return {b["text"]: b.get("callback_data", "") for row in rows for b in row}
