"""The prompt filter normalises before it matches: each evasion of a blocked word is refused,
and words that merely contain one are not. Blocked words and patterns added at runtime apply
without a restart, and every refusal is logged (who, when, which rule, the prompt)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.errors import Forbidden
from stationthis.core.moderation import PromptFilter
from stationthis.core.users import Identity
from stationthis.workflows.make_image import Request
from tests.support.scripted import ScriptedEngine

WORDS = ["blood", "ass", "gore"]


@pytest.mark.parametrize(("evasion", "text"), [
    ("case", "BLOOD moon"), ("accents", "blöód moon"), ("fullwidth", "ｂｌｏｏｄ moon"),
    ("cyrillic look-alikes", "bl\u043e\u043ed moon"), ("greek look-alikes", "bl\u03bf\u03bfd"),
    ("leet zeros", "bl00d"), ("leet one as l", "b100d"), ("leet symbols", "@$$ hat"),
    ("leet 3 and 0", "g0r3"), ("dots inside", "bl.o.o.d"), ("dashes", "b-l-o-o-d"),
    ("underscores", "b_l_o_o_d"), ("spaces", "b l o o d"), ("zero-width", "bl\u200bo\u200dod"),
    ("soft hyphen", "blo\u00adod"), ("mixed", "Ｂ.1.0.0.Ｄ"),
    ("spelt among words", "a g o r e scene"),
    ("punctuation around", "(blood)!"),
])
def test_each_evasion_is_refused(evasion: str, text: str) -> None:
    with pytest.raises(Forbidden):
        PromptFilter(WORDS).check(text)


@pytest.mark.parametrize("text", [
    "a class photo", "the assassin", "bass guitar", "passage", "bloodhound", "bloody mary",
    "gorgeous", "a well-known blood-orange", "mass-produced", "b.l.o.g post", "1girl, solo",
])
def test_words_that_merely_contain_a_blocked_one_pass(text: str) -> None:
    PromptFilter(WORDS[1:]).check(text)  # "ass" and "gore"
    if "blood" not in text:
        PromptFilter(WORDS).check(text)


def test_a_hyphenated_blocked_word_is_still_found_as_a_word() -> None:
    with pytest.raises(Forbidden):
        PromptFilter(["blood"]).check("a well-known blood-orange")  # "blood" stands alone


def test_spelt_out_letters_are_read_as_one_word_even_inside() -> None:
    """Letters spelt one by one are an evasion already: a blocked word inside them counts."""
    with pytest.raises(Forbidden):
        PromptFilter(["ass"]).check("c l a s s")
    PromptFilter(["ass"]).check("class")


def test_match_names_the_rule_for_the_log() -> None:
    found = PromptFilter(["blood"], ["kill\\w*"]).match("b l 0 o d")
    assert found is not None and found.kind == "word" and found.rule == "blood"
    found = PromptFilter([], ["kill\\w*"]).match("KILLERS")
    assert found is not None and found.kind == "pattern" and found.rule == "kill\\w*"


async def test_rules_added_at_runtime_apply_at_once_and_refusals_are_logged(
    make_settings: Callable[..., Settings], engine: ScriptedEngine
) -> None:
    async with build(make_settings(blocked_words="gore"), engine=engine) as app:
        assert app.operators is not None
        alice = await app.users.resolve(Identity("test", "alice"))
        request = Request("make", {"prompt": "a b.a.n.a.n.a split"})
        await app.make_image.quote(alice, request)  # allowed before the rule
        rule = await app.operators.rules.add("word", "banana")
        with pytest.raises(Forbidden, match="blocked word “b"):
            await app.make_image.quote(alice, request)
        with pytest.raises(Forbidden):
            app.prompt_filter.check("g0re", who=alice.id)  # the settings' words stay
        await app.operators.rules.drain()
        refused = await app.operators.refused()
        assert [(e.rule, e.text, e.account_id) for e in refused][:1] == [
            ("word: gore", "g0re", alice.id)]
        assert refused[1].rule == "word: banana" and refused[1].text == "a b.a.n.a.n.a split"
        await app.operators.rules.remove(rule.id)
        await app.make_image.quote(alice, request)  # allowed again


async def test_another_process_sees_new_rules_when_it_refreshes(
    make_settings: Callable[..., Settings], engine: ScriptedEngine
) -> None:
    settings = make_settings()
    async with build(settings, engine=engine) as one, build(settings, engine=engine) as two:
        assert one.operators is not None and two.operators is not None
        await one.operators.rules.add("pattern", r"\bsecret\d+")
        two.prompt_filter.check("secret42")  # not yet loaded there
        await two.operators.rules.refresh_if_stale()
        with pytest.raises(Forbidden, match="blocked pattern"):
            two.prompt_filter.check("secret42")


async def test_a_bad_rule_is_refused(make_settings: Callable[..., Settings]) -> None:
    async with build(make_settings()) as app:
        assert app.operators is not None
        for kind, value, message in [("pattern", "(x", "not a valid regular expression"),
                                     ("word", "...", "no letters or digits"),
                                     ("tag", "x", "word or a pattern")]:
            with pytest.raises(Exception, match=message):
                await app.operators.rules.add(kind, value)
