"""A Discord interaction holding text that is not valid Unicode (a lone surrogate, sent as a
JSON ``"\\ud800"`` escape) is answered with a private refusal at once, and nothing is stored:
no job, no charge, no setting, no account with a broken name."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.config import Settings
from stationthis.core.text import is_valid_text
from stationthis.platforms.discord.app import INVALID_TEXT
from tests.support.fake_discord_env import Env, discord_env
from tests.support.fake_discord_users import Member
from tests.support.scripted import ScriptedEngine

ALICE = Member("311", "alice", guild="g-3", channel="c-3")


@pytest.fixture
async def env(make_settings: Callable[..., Settings]) -> AsyncIterator[Env]:
    async with discord_env(make_settings, ScriptedEngine()) as found:
        yield found


async def test_a_prompt_with_a_lone_surrogate_is_refused_and_nothing_is_made(
    env: Env
) -> None:
    sent = await env.discord.command(ALICE, "make", {"prompt": "a fox \ud800"})
    assert sent.status == 200 and sent.ephemeral_text == INVALID_TEXT
    await env.settled()
    account = await env.account(ALICE)
    assert await env.app.jobs.list_for(account.id) == []
    assert (await env.app.ledger.balance(account.id)).total == 1000
    shown = await env.discord.command(ALICE, "balance")  # the user can go on
    assert shown.type == 5


async def test_a_setting_with_a_lone_surrogate_is_refused_and_not_stored(env: Env) -> None:
    saved = await env.discord.submit_modal(ALICE, "ms", {"key": "negative",
                                                         "value": "blurry \udc00"})
    assert saved.ephemeral_text == INVALID_TEXT
    await env.settled()
    view = await env.app.user_settings.show(await env.account(ALICE))
    assert view["negative"].source == "default"


async def test_a_name_with_a_lone_surrogate_stores_no_account(env: Env) -> None:
    eve = Member("312", "Ev\ud800e", guild="g-3", channel="c-3")
    sent = await env.discord.command(eve, "balance")
    assert sent.ephemeral_text == INVALID_TEXT
    await env.settled()
    account = await env.account(eve)  # created only now, by the test, without a name
    assert is_valid_text(account.name)
