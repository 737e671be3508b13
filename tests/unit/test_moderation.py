"""Moderation: the prompt filter (words and patterns, before any cost or GPU time), a bad
pattern stopping start-up with one line, and bans by an admin."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from pydantic import ValidationError

from stationthis.bootstrap import build
from stationthis.config import Settings, SettingsError, load_settings
from stationthis.core.errors import Forbidden, InvalidInput
from stationthis.core.moderation import PromptFilter
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.support.scripted import ScriptedEngine, png

WORDS = ["gore", "blood bath", "r34"]
PATTERNS = [r"nud(e|ity)", r"\bkill\w*"]


# ----- the filter itself ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["gore", "a GORE scene", "Gore!", "(gore)", "so much gore.", "g.o.r.e", "g o r e",
     "G-O-R-E", "g0r3 fest", "gōre", "go\u200bre", "a blood bath", "BLOOD, bath", "bloodbath",
     "R34", "NUDITY", "n.u.d.e", "killers"],
)
def test_blocked_words_and_patterns_in_their_variants(text: str) -> None:
    with pytest.raises(Forbidden) as err:
        PromptFilter(WORDS, PATTERNS).check(text)
    assert err.value.message.startswith("this prompt is not allowed here (")


@pytest.mark.parametrize(
    "text", ["a red fox", "gorefest", "a bloody bathtub", "scunthorpe", "gourd", "", "1girl"],
)
def test_other_prompts_pass(text: str) -> None:
    PromptFilter(WORDS, PATTERNS).check(text)


def test_a_refusal_does_not_echo_the_blocked_term() -> None:
    with pytest.raises(Forbidden) as err:
        PromptFilter(["bloodbath"]).check("a BloodBath at dawn")
    message = err.value.message
    assert "bloodbath" not in message.lower() and "“b********”" in message
    with pytest.raises(Forbidden) as err:
        PromptFilter(patterns=["secret(word)?"]).check("the secretword")
    assert "secret" not in err.value.message and "blocked pattern" in err.value.message
    with pytest.raises(Forbidden) as err:
        PromptFilter(["gore"]).check("gore", field="negative")
    assert "negative prompt" in err.value.message and err.value.details["input"] == "negative"


def test_an_empty_filter_allows_everything() -> None:
    empty = PromptFilter([" ", ""], [])
    assert not empty.enabled
    empty.check("anything at all")


# ----- before any cost or GPU time ------------------------------------------------------------


@pytest.fixture
async def strict(make_settings: Callable[..., Settings],
                 engine: ScriptedEngine) -> AsyncIterator[App]:
    settings = make_settings(blocked_words="gore, Blood Bath", blocked_patterns=PATTERNS)
    async with build(settings, engine=engine) as app:
        yield app


async def user(app: App, name: str = "alice") -> Account:
    return await app.users.resolve(Identity("test", name))


async def kinds(app: App, account: Account) -> list[str]:
    return [e.kind for e in reversed(await app.ledger.history(account.id))]


@pytest.mark.parametrize(
    "options",
    [{"prompt": "GORE!"}, {"prompt": "a g.o.r.e scene"}, {"prompt": "blood-bath at noon"},
     {"prompt": "a fox", "negative": "Nudity"}, {"prompt": "a fox", "negative": "gore, ugly"}],
)
async def test_the_filter_refuses_before_anything_is_held_or_run(
    strict: App, engine: ScriptedEngine, options: dict[str, str]
) -> None:
    alice = await user(strict)
    before = await strict.ledger.balance(alice.id)
    with pytest.raises(Forbidden, match="this prompt is not allowed here"):
        await strict.make_image.quote(alice, Request("make", options))
    with pytest.raises(Forbidden, match="this prompt is not allowed here"):
        await strict.make_image.make(alice, Request("make", options))
    assert await kinds(strict, alice) == ["allowance"]
    assert await strict.ledger.balance(alice.id) == before
    assert await strict.jobs.list_for(alice.id) == [] and engine.submits == []


async def test_the_filter_applies_to_img2img_and_allowed_prompts_run(
    strict: App, engine: ScriptedEngine
) -> None:
    alice = await user(strict)
    photo = await strict.media.ingest(alice.id, png(64, 64))
    with pytest.raises(Forbidden):
        await strict.make_image.quote(
            alice, Request("img2img", {"prompt": "more gore"}, images={"image": photo.id})
        )
    job = await strict.make_image.make(alice, Request("make", {"prompt": "a gourd"}))
    assert (await strict.jobs.wait(job.id, timeout=10)).state == "succeeded"
    assert engine.submits == [job.id]


async def test_a_blocked_negative_cannot_be_saved_as_a_setting(strict: App) -> None:
    alice = await user(strict)
    chat = await strict.users.resolve(Identity("telegram", "-1"), kind="group")
    with pytest.raises(Forbidden, match="negative prompt"):
        await strict.user_settings.set(alice, "negative", "nude, ugly")
    with pytest.raises(Forbidden, match="negative prompt"):
        await strict.user_settings.set_group(None, chat, "negative", "gore")
    assert await strict.preferences.get(alice.id) == {}


async def test_a_blocked_word_in_settings_added_later_is_still_caught(
    make_settings: Callable[..., Settings], engine: ScriptedEngine
) -> None:
    settings = make_settings()
    async with build(settings, engine=engine) as app:
        alice = await user(app)
        await app.user_settings.set(alice, "negative", "gore")
    async with build(make_settings(blocked_words="gore"), engine=engine) as app:
        with pytest.raises(Forbidden, match="negative prompt"):
            await app.make_image.quote(alice, Request("make", {"prompt": "a fox"}))


# ----- settings -------------------------------------------------------------------------------


def test_blocked_words_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATIONTHIS_BLOCKED_WORDS", "gore, Blood Bath ,,")
    monkeypatch.setenv("STATIONTHIS_BLOCKED_PATTERNS", '["nud(e|ity)", "a{2,3}h"]')
    settings = load_settings(_env_file=None)
    assert settings.blocked_words == ["gore", "Blood Bath"]
    assert settings.blocked_patterns == ["nud(e|ity)", "a{2,3}h"]
    monkeypatch.setenv("STATIONTHIS_BLOCKED_PATTERNS", "[0-9]+ years? old")
    assert load_settings(_env_file=None).blocked_patterns == ["[0-9]+ years? old"]


@pytest.mark.parametrize("value", ["nud(e", '["fine", "[unclosed"]', "*x"])
def test_a_bad_pattern_stops_start_up_with_one_line(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("STATIONTHIS_BLOCKED_PATTERNS", value)
    with pytest.raises(SettingsError) as err:
        load_settings(_env_file=None)
    message = str(err.value)
    assert "STATIONTHIS_BLOCKED_PATTERNS" in message and "not a valid regular expression" in message
    assert "\n" not in message


def test_a_bad_pattern_in_code_is_refused(make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(ValidationError, match="not a valid regular expression"):
        make_settings(blocked_patterns=["(x"])


def test_tiers_need_a_free_tier(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STATIONTHIS_TIERS", '{"vip": {"max_steps": 80}}')
    with pytest.raises(SettingsError, match=r'STATIONTHIS_TIERS: .*must include "free"'):
        load_settings(_env_file=None)
    monkeypatch.setenv("STATIONTHIS_TIERS", '{"free": {"max_steps": 30}, "vip": {"cfg": [1, 9]}}')
    tiers = load_settings(_env_file=None).tiers
    assert tiers["free"].max_steps == 30 and tiers["vip"].cfg == (1, 9)


# ----- bans -----------------------------------------------------------------------------------


async def test_a_ban_refuses_quote_and_make_and_an_unban_allows_them(
    app: App, engine: ScriptedEngine
) -> None:
    alice = await user(app)
    request = Request("make", {"prompt": "a fox"})
    await app.admin.ban(alice)
    # ``alice`` is the account as a platform saw it before the ban: the ban still applies.
    for attempt in (app.make_image.quote(alice, request), app.make_image.make(alice, request)):
        with pytest.raises(Forbidden, match="blocked"):
            await attempt
    assert await kinds(app, alice) == ["allowance"] and engine.submits == []
    assert (await app.admin.show(alice)).account.banned
    await app.admin.unban(alice)
    assert (await app.make_image.quote(alice, request)).points == 15
    job = await app.make_image.make(alice, request)
    assert (await app.jobs.wait(job.id, timeout=10)).state == "succeeded"


async def test_admin_show_and_tiers(app: App) -> None:
    alice = await user(app)
    view = await app.admin.show(alice)
    assert view.tier == "free" and not view.account.banned
    assert view.identities == [Identity("test", "alice")] and view.balance.total == 1000
    assert (await app.admin.set_tier(alice, "PRO")).tier == "pro"
    with pytest.raises(InvalidInput, match="unknown tier 'gold'; tiers: free, pro"):
        await app.admin.set_tier(alice, "gold")
