"""/settings (buttons, select, modal), /server and the server's points pool, /balance,
/history, /status with cancel buttons, /cancel and /link — against the fake Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.config import Settings
from stationthis.core.replies import DiscordReply
from stationthis.core.users import Identity
from tests.support.fake_discord import Message
from tests.support.fake_discord_env import Env, discord_env
from tests.support.fake_discord_users import Member
from tests.support.scripted import Script, ScriptedEngine

ALICE = Member("111", "alice", guild="g-1", channel="c-1")
BOB = Member("222", "bob", guild="g-1", channel="c-1")
ADMIN = Member("333", "ada", guild="g-1", channel="c-1", permissions=1 << 5)


@pytest.fixture
def engine() -> ScriptedEngine:
    return ScriptedEngine(Script(steps=2, delay=0.01))


@pytest.fixture
async def env(make_settings: Callable[..., Settings],
              engine: ScriptedEngine) -> AsyncIterator[Env]:
    async with discord_env(make_settings, engine) as found:
        yield found


def field(message: Message, name: str) -> str:
    for f in message.embeds[0]["fields"]:
        if f["name"] == name:
            return str(f["value"])
    raise AssertionError(f"no field {name}")


async def followup(env: Env, token: str) -> Message:
    await env.settled()
    return env.fake.messages[env.fake.followups[token][-1]]


async def test_settings_buttons_select_and_modal_change_what_make_uses(env: Env) -> None:
    shown = await env.discord.command(ALICE, "settings")
    assert shown.body == {"type": 5, "data": {"flags": 64}}
    message = await env.original(shown.token)
    assert "s:steps:30" in message.custom_ids() and "s:tool" in message.custom_ids()
    pressed = await env.discord.press(ALICE, "s:steps:30")
    assert pressed.body == {"type": 6}
    assert field(await env.original(pressed.token), "steps").startswith("30")
    chosen = await env.discord.press(ALICE, "s:tool", values=["make"])
    assert chosen.type == 6
    form = await env.discord.press(ALICE, "s:edit")
    assert form.type == 9 and form.body["data"]["custom_id"] == "ms"
    saved = await env.discord.submit_modal(ALICE, "ms", {"key": "cfg", "value": "9.5"})
    assert field(await env.original(saved.token), "cfg").startswith("9.5")
    made = await env.discord.command(ALICE, "make", {"prompt": "a hill"})
    await env.finished(made.token)
    job = (await env.app.jobs.list_for((await env.account(ALICE)).id))[0]
    assert job.params["steps"] == 30 and job.params["cfg"] == 9.5


async def test_a_bad_setting_value_is_refused_privately(env: Env) -> None:
    saved = await env.discord.submit_modal(ALICE, "ms", {"key": "steps", "value": "9000"})
    assert saved.type == 6
    answer = await followup(env, saved.token)
    assert answer.flags == 64 and "steps" in answer.content.lower()
    view = await env.app.user_settings.show(await env.account(ALICE))
    assert view["steps"].source == "default"


async def test_only_managers_change_the_server_and_its_pool_pays(env: Env) -> None:
    shown = await env.discord.command(BOB, "server")
    message = await env.original(shown.token)
    assert message.components == [] and "Manage Server" in message.content
    refused = await env.discord.press(BOB, "g:payer:group")
    assert "Manage Server" in refused.ephemeral_text
    refused_modal = await env.discord.submit_modal(BOB, "mg", {"key": "steps", "value": "5"})
    assert refused_modal.type == 4
    admin_view = await env.original((await env.discord.command(ADMIN, "server")).token)
    assert "g:payer:group" in admin_view.custom_ids()
    changed = await env.discord.press(ADMIN, "g:payer:group")
    after = await env.original(changed.token)
    assert "the server pays" in after.embeds[0]["description"]
    guild = await env.app.users.resolve(Identity("discord", "g-1"), kind="group")
    await env.app.ledger.grant(guild.id, 500, key="test:pool", memo="pool")
    made = await env.discord.command(BOB, "make", {"prompt": "a tower"})
    result = await env.finished(made.token)
    assert result.content.startswith("✅")
    first_edit = env.fake.calls_to("PATCH", made.token)[0].payload["content"]
    assert "paid by the server" in first_edit
    bob = await env.account(BOB)
    job = (await env.app.jobs.list_for(bob.id))[0]
    assert job.payer_id == guild.id
    assert (await env.app.ledger.balance(bob.id)).total == 1000
    assert (await env.app.ledger.balance(guild.id)).total == 500 - (job.cost or 0)
    balance = await env.original((await env.discord.command(BOB, "balance")).token)
    assert f"pool {500 - (job.cost or 0)} points" in balance.content


async def test_balance_history_status_and_cancel(env: Env, engine: ScriptedEngine) -> None:
    balance = await env.original((await env.discord.command(ALICE, "balance")).token)
    assert "1000 points" in balance.content
    engine.script(Script(hang=True), Script(hang=True))
    first = await env.discord.command(ALICE, "make", {"prompt": "one"})
    second = await env.discord.command(ALICE, "make", {"prompt": "two"})
    await env.settled()
    status = await env.original((await env.discord.command(ALICE, "status")).token)
    cancel_ids = [c for c in status.custom_ids() if c.startswith("c:")]
    assert len(cancel_ids) == 2 and "1. make" in status.content
    stolen = await env.discord.press(BOB, cancel_ids[0])
    assert "belong to whoever" in stolen.ephemeral_text
    pressed = await env.discord.press(ALICE, cancel_ids[0])
    assert pressed.type == 6
    chosen = await env.app.jobs.get(cancel_ids[0].split(":")[1])
    assert isinstance(chosen.reply, DiscordReply) and chosen.reply.token is not None
    assert chosen.reply.token in (first.token, second.token)
    assert (await env.finished(chosen.reply.token)).content.startswith("✖️ make: cancelled")
    cancelled = await env.original((await env.discord.command(ALICE, "cancel",
                                                              {"which": "all"})).token)
    assert cancelled.content.startswith("Cancelled 1 job")
    for token in (first.token, second.token):
        assert (await env.finished(token)).content.startswith("✖️ make: cancelled")
    alice = await env.account(ALICE)
    assert (await env.app.ledger.balance(alice.id)).total == 1000
    history = await env.original((await env.discord.command(ALICE, "history")).token)
    assert "'one'" in history.content and "'two'" in history.content


async def test_link_joins_a_telegram_account(env: Env) -> None:
    telegram = await env.app.users.resolve(Identity("telegram", "5"))
    code = await env.app.account.link_code(telegram)
    linked = await env.original((await env.discord.command(ALICE, "link",
                                                           {"code": code})).token)
    assert "Linked" in linked.content and "telegram:5" in linked.content
    fresh = await env.original((await env.discord.command(ALICE, "link")).token)
    assert "Your link code" in fresh.content
    wrong = await env.discord.command(BOB, "link", {"code": "nope"})
    answer = await env.original(wrong.token)  # an ephemeral response, edited with the error
    assert answer.content and "Linked" not in answer.content


async def test_a_fourth_unfinished_job_is_refused_privately(env: Env,
                                                            engine: ScriptedEngine) -> None:
    engine.script(Script(hang=True), Script(hang=True), Script(hang=True))
    for n in range(3):
        await env.discord.command(ALICE, "make", {"prompt": f"job {n}"})
    await env.settled()
    fourth = await env.discord.command(ALICE, "make", {"prompt": "one too many"})
    answer = await followup(env, fourth.token)
    assert answer.flags == 64 and "/cancel" in answer.content
    assert env.fake.original(fourth.token).deleted  # type: ignore[union-attr]
    alice = await env.account(ALICE)
    assert len(await env.app.jobs.list_for(alice.id)) == 3
    await env.app.status.cancel_all(alice)
