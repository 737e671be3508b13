"""``stationthis serve`` with a token runs the bot in the same process (a real process
against the fake Bot API on loopback), and never writes the token to its output."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.fake_telegram import FakeTelegram
from tests.support.fake_telegram_bot import from_bot, text_of, wait_message

STATIONTHIS = Path(sys.executable).parent / "stationthis"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def test_serve_starts_the_bot_when_a_token_is_set(fake: FakeTelegram,
                                                        tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATIONTHIS_")}
    env.update(STATIONTHIS_DATA_DIR=str(tmp_path / "data"), STATIONTHIS_LOG_LEVEL="DEBUG",
               STATIONTHIS_TELEGRAM_TOKEN=fake.token,
               STATIONTHIS_TELEGRAM_API_URL=f"http://127.0.0.1:{fake.port}")
    out, err = (tmp_path / "out").open("wb"), (tmp_path / "err").open("wb")
    process = await asyncio.create_subprocess_exec(
        str(STATIONTHIS), "serve", "--port", str(free_port()), cwd=tmp_path, env=env,
        stdout=out, stderr=err)
    try:
        alice = fake.user(1701)
        fake.send_text(alice, "/start")
        welcome = await wait_message(fake, alice, lambda m: from_bot(m), timeout=30)
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), 15)
        out.close()
        err.close()
    assert "Welcome to StationThis" in text_of(welcome)
    logs = (tmp_path / "out").read_text() + (tmp_path / "err").read_text()
    assert "telegram bot @stationthis_test_bot: long polling" in logs
    assert fake.token.split(":")[1] not in logs
