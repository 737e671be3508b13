"""The real ``stationthis`` command: ``discord register`` against the fake Discord, and
``serve`` answering a signed PING once the Discord settings are present."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from stationthis.platforms.discord.commands import commands
from tests.support.fake_discord import FakeDiscord
from tests.support.fake_discord_users import Signer

STATIONTHIS = Path(sys.executable).parent / "stationthis"
APP_ID = "900000000000000001"
TOKEN = "bot-token-never-printed-42"


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    found = FakeDiscord(APP_ID, TOKEN)
    await found.start()
    yield found
    await found.close()


def environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATIONTHIS_")}
    env.update({"STATIONTHIS_DATA_DIR": str(tmp_path / "data"), **extra})
    return env


async def run(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        str(STATIONTHIS), *args, cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


async def test_register_overwrites_commands_globally_and_per_guild(
    tmp_path: Path, fake: FakeDiscord,
) -> None:
    env = environment(tmp_path, STATIONTHIS_DISCORD_APPLICATION_ID=APP_ID,
                      STATIONTHIS_DISCORD_BOT_TOKEN=TOKEN,
                      STATIONTHIS_DISCORD_API_URL=fake.base_url)
    (code, out, err), (code2, out2, err2) = await asyncio.gather(
        run(tmp_path, env, "discord", "register"),
        run(tmp_path, env, "discord", "register", "--guild", "777"))
    assert code == 0, err
    names = [c["name"] for c in commands()]
    assert f"registered {len(names)} commands globally" in out
    assert [c["name"] for c in fake.commands["global"]] == names
    assert "make" in names and "train" in names and "collections" in names
    assert code2 == 0 and "in server 777" in out2
    assert [c["name"] for c in fake.commands["777"]] == names
    call = fake.calls_to("PUT", "/guilds/777/commands")[0]
    assert call.authorization == f"Bot {TOKEN}" and call.content_type == "application/json"
    assert TOKEN not in out + err + out2 + err2


async def test_register_with_a_wrong_token_says_so(tmp_path: Path, fake: FakeDiscord) -> None:
    env = environment(tmp_path, STATIONTHIS_DISCORD_APPLICATION_ID=APP_ID,
                      STATIONTHIS_DISCORD_BOT_TOKEN="wrong-token-xyz",
                      STATIONTHIS_DISCORD_API_URL=fake.base_url)
    (code, out, err), (unset, _, unset_err) = await asyncio.gather(
        run(tmp_path, env, "discord", "register"),
        run(tmp_path, environment(tmp_path), "discord", "register"))
    assert code == 1 and "401" in err and "wrong-token-xyz" not in out + err
    assert fake.commands == {}
    assert unset == 2 and "STATIONTHIS_DISCORD_APPLICATION_ID" in unset_err


async def test_serve_hosts_the_interactions_endpoint(tmp_path: Path, fake: FakeDiscord) -> None:
    signer = Signer()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = environment(tmp_path, STATIONTHIS_DISCORD_APPLICATION_ID=APP_ID,
                      STATIONTHIS_DISCORD_BOT_TOKEN=TOKEN,
                      STATIONTHIS_DISCORD_PUBLIC_KEY=signer.public_hex,
                      STATIONTHIS_DISCORD_API_URL=fake.base_url,
                      STATIONTHIS_PORT=str(port))
    process = await asyncio.create_subprocess_exec(
        str(STATIONTHIS), "serve", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        body = json.dumps({"id": "1", "type": 1}).encode()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(300):
                try:
                    response = await client.post("/discord/interactions", content=body,
                                                 headers=signer.headers(body))
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
            assert response.status_code == 200 and response.json() == {"type": 1}
            assert response.headers["content-type"] == "application/json"
            forged = await client.post("/discord/interactions", content=body,
                                       headers=Signer().headers(body))
            assert forged.status_code == 401
    finally:
        process.terminate()
        _, err = await asyncio.wait_for(process.communicate(), 30)
    assert TOKEN not in err.decode()
