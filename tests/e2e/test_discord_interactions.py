"""The interactions endpoint itself: signatures, PING, replays, unknown commands, flooding."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.config import Settings
from tests.support.fake_discord_env import Env, discord_env
from tests.support.fake_discord_users import Member, Signer
from tests.support.scripted import ScriptedEngine

ALICE = Member("111", "alice")


@pytest.fixture
async def env(make_settings: Callable[..., Settings]) -> AsyncIterator[Env]:
    async with discord_env(make_settings, ScriptedEngine(), discord_flood_burst=3) as found:
        yield found


async def test_ping_is_answered_with_pong(env: Env) -> None:
    sent = await env.discord.post({"id": "p1", "type": 1, "application_id": "x"})
    assert sent.status == 200
    assert sent.body == {"type": 1}


async def test_missing_or_forged_signatures_are_refused(env: Env) -> None:
    ping = {"id": "p2", "type": 1}
    no_headers = await env.discord.post(ping, sign=lambda body: {})
    other_key = Signer()
    forged = await env.discord.post(ping, sign=lambda body: other_key.headers(body))

    def tampered(body: bytes) -> dict[str, str]:
        headers = env.signer.headers(body)
        sig = headers["X-Signature-Ed25519"]
        headers["X-Signature-Ed25519"] = ("0" if sig[0] != "0" else "1") + sig[1:]
        return headers

    flipped = await env.discord.post(ping, sign=tampered)
    assert [no_headers.status, forged.status, flipped.status] == [401, 401, 401]


async def test_a_body_changed_after_signing_is_refused(env: Env) -> None:
    body = json.dumps({"id": "p3", "type": 1}).encode()
    headers = env.signer.headers(body)
    response = await env.discord.client.post("/discord/interactions",
                                             content=body.replace(b"p3", b"p4"), headers=headers)
    assert response.status_code == 401


async def test_stale_timestamps_and_replays_are_refused(env: Env) -> None:
    old = str(int(time.time()) - 3600)
    stale = await env.discord.post({"id": "p5", "type": 1}, timestamp=old)
    assert stale.status == 401
    payload = env.discord.base(2, ALICE, {"name": "help", "type": 1})
    first = await env.discord.post(payload)
    again = await env.discord.post(payload)  # the same signed request sent twice
    assert first.status == 200 and first.type == 5
    assert again.status == 401
    await env.settled()


async def test_a_replay_after_a_restart_is_refused(
    make_settings: Callable[..., Settings]
) -> None:
    """The ids of answered interactions are kept in the database: a captured request sent
    again after the bot restarted (within the freshness window) is still refused."""
    signer = Signer()
    async with discord_env(make_settings, ScriptedEngine(), signer=signer) as before:
        payload = before.discord.base(2, ALICE, {"name": "help", "type": 1})
        body = json.dumps(payload).encode()
        headers = signer.headers(body)
        first = await before.discord.client.post("/discord/interactions", content=body,
                                                 headers=headers)
        assert first.status_code == 200
        await before.settled()
    async with discord_env(make_settings, ScriptedEngine(), signer=signer) as after:
        again = await after.discord.client.post("/discord/interactions", content=body,
                                                headers=headers)
        assert again.status_code == 401
        assert after.fake.calls == []  # nothing was done for it
        fresh = await after.discord.command(ALICE, "help")  # new interactions still work
        assert fresh.status == 200
        await after.settled()


async def test_timestamps_that_are_not_whole_seconds_are_refused(env: Env) -> None:
    for odd in ("nan", "inf", "abc"):
        sent = await env.discord.post(env.discord.base(2, ALICE, {"name": "help", "type": 1}),
                                      timestamp=odd)
        assert sent.status == 401, odd
    assert env.fake.calls == []


async def test_unknown_command_gets_a_private_answer(env: Env) -> None:
    sent = await env.discord.command(ALICE, "teleport")
    assert sent.status == 200 and sent.type == 4
    assert "Unknown command /teleport" in sent.ephemeral_text
    assert env.fake.calls == []  # nothing else happened


async def test_help_is_deferred_privately_then_completed(env: Env) -> None:
    sent = await env.discord.command(ALICE, "help")
    assert sent.body == {"type": 5, "data": {"flags": 64}}
    message = await env.original(sent.token)
    assert "/make" in message.content
    # the bot token is not sent where the interaction token authorises
    assert all(c.authorization is None for c in env.fake.calls_to("PATCH"))


async def test_a_flood_of_commands_is_slowed_down(env: Env) -> None:
    answers = [await env.discord.command(ALICE, "help") for _ in range(5)]
    assert [a.type for a in answers] == [5, 5, 5, 4, 4]
    assert "Slow down" in answers[-1].ephemeral_text
    other = await env.discord.command(Member("222", "bob"), "help")
    assert other.type == 5  # one user's flood does not slow anyone else
    await env.settled()
