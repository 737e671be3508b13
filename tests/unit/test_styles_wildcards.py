"""Styles (``--style noir``) and wildcards (``{fox|wolf}``, ``__colours__``): parsed, drawn
with cook mode's weighted pick from the job's seed (the same seed draws the same), recorded
on the job and its reproducibility card; an unknown style or list, or lists that nest
without end, refused clearly and before anything is held — through the wired app's
make-image workflow, which every platform uses."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from stationthis.core.collections_traits import weighted_pick
from stationthis.core.errors import Forbidden, InvalidInput
from stationthis.core.users import Account, Identity
from stationthis.core.wildcards import Item, choices_of, expand, parse_items
from stationthis.workflows.app import App
from stationthis.workflows.history import ReproCard
from stationthis.workflows.make_image import Request
from stationthis.workflows.prompt_params import parse
from stationthis.workflows.styles import Styles


async def alice(app: App) -> Account:
    return await app.users.resolve(Identity("test", "alice"))


def styles_of(app: App) -> Styles:
    assert app.styles is not None
    return app.styles


async def params_of(app: App, prompt: str, who: Account | None = None,
                    group: Account | None = None, **options: object) -> dict[str, object]:
    request = Request("make", {"prompt": prompt, **options})
    return (await app.make_image.quote(who or await alice(app), request, group=group)).params


# ----- the parts ------------------------------------------------------------------------------


def test_style_is_a_prompt_parameter() -> None:
    found = parse("a fox at dusk --style noir --seed 3")
    assert (found.prompt, found.style, found.options) == ("a fox at dusk", "noir", {"seed": "3"})


def test_weighted_choices_and_list_items_are_read() -> None:
    assert choices_of("fox:3|wolf| owl ") == [Item("fox", 3.0), Item("wolf"), Item("owl")]
    assert parse_items("red, blue:2\ngreen") == [Item("red"), Item("blue", 2.0), Item("green")]
    with pytest.raises(InvalidInput, match="weight of 'red' must be a positive number"):
        parse_items([{"value": "red", "weight": 0}])


def test_the_weighted_pick_follows_the_weights_and_the_seed() -> None:
    """The pick cook mode uses: weight 3 against 1 is drawn about three times as often."""
    rng = random.Random(1)
    counts = Counter(weighted_pick(rng, ["fox", "wolf"], [3, 1]) for _ in range(4000))
    assert 2.6 < counts["fox"] / counts["wolf"] < 3.4
    draws = [weighted_pick(random.Random(s), "abc", [1, 1, 1]) for s in range(20)]
    assert draws == [weighted_pick(random.Random(s), "abc", [1, 1, 1]) for s in range(20)]


def test_the_same_seed_draws_the_same_and_another_seed_may_not() -> None:
    lists = {"colours": [Item("red"), Item("teal"), Item("ochre"), Item("violet")]}
    text = "a {fox|wolf|owl|hare} in __colours__ and __Colours__"
    first = expand(text, lists, random.Random("wildcards:5"))
    assert first == expand(text, lists, random.Random("wildcards:5"))
    prompt, drawn = first
    assert "{" not in prompt and "__" not in prompt
    assert [d.source for d in drawn] == ["{fox|wolf|owl|hare}", "__colours__", "__Colours__"]
    outcomes = {expand(text, lists, random.Random(f"wildcards:{s}"))[0] for s in range(30)}
    assert len(outcomes) > 5


def test_nested_wildcards_are_drawn_and_endless_nesting_is_refused() -> None:
    lists = {"animal": [Item("{red|grey} __size__ fox")], "size": [Item("small")],
             "loop": [Item("a __loop__")]}
    prompt, drawn = expand("a {tiny|__animal__:1000}", lists, random.Random(0))
    assert prompt in ("a red small fox", "a grey small fox")
    assert len(drawn) == 4  # the choice, __animal__, {red|grey} and __size__
    with pytest.raises(InvalidInput, match="nest more than 5 levels deep"):
        expand("__loop__", lists, random.Random(0))


def test_an_unknown_list_is_named_with_the_known_ones() -> None:
    with pytest.raises(InvalidInput) as err:
        expand("a __colors__ fox", {"colours": [Item("red")]}, random.Random(0))
    assert err.value.message == ("there is no wildcard list __colors__ (your lists: "
                                 "__colours__)")


# ----- through the make-image workflow -------------------------------------------------------


async def test_a_style_shapes_the_prompt_negative_and_defaults(app: App) -> None:
    me = await alice(app)
    await styles_of(app).save_style(me, "noir", "film noir photo of {prompt}, grainy",
                                    "colour", {"steps": 12, "ar": "16:9", "cfg": 3})
    params = await params_of(app, "a fox --style noir --no text", steps=30)
    assert params["prompt"] == "film noir photo of a fox, grainy"
    assert params["negative"] == "colour, text"
    assert params["steps"] == 12  # the style's defaults replace the form's
    assert (params["width"], params["height"]) == (680, 384)
    assert params["_style"] == "noir"
    # what is written in the prompt still wins over the style
    assert (await params_of(app, "a fox --style noir --steps 20 --ar 1:1"))["steps"] == 20
    # picked in the studio (the request's style option) rather than written
    assert (await params_of(app, "an owl", style="noir"))["prompt"].startswith("film noir")


async def test_an_unknown_style_is_refused_listing_the_names_and_costs_nothing(app: App) -> None:
    me = await alice(app)
    await styles_of(app).save_style(me, "noir", "noir, {prompt}")
    before = (await app.ledger.balance(me.id)).total
    with pytest.raises(InvalidInput) as err:
        await app.make_image.make(me, Request("make", {"prompt": "a fox --style noor"}))
    assert err.value.message == "there is no style 'noor' (your styles: noir)"
    assert (await app.ledger.balance(me.id)).total == before
    with pytest.raises(InvalidInput) as err:
        await app.make_image.make(me, Request("make", {"prompt": "a __nope__ fox"}))
    assert "there is no wildcard list __nope__ (your lists: none yet)" in err.value.message
    assert (await app.ledger.balance(me.id)).total == before


async def test_the_users_style_wins_over_the_groups_and_lists_merge(app: App) -> None:
    me = await alice(app)
    group = await app.users.resolve(Identity("test", "g1"), kind="group")
    flow = styles_of(app)
    await flow.save_style(group, "noir", "group noir, {prompt}")
    await flow.save_style(group, "pastel", "pastel, {prompt}")
    await flow.save_style(me, "noir", "my noir, {prompt}")
    await flow.save_list(group, "colours", ["mauve"])
    assert (await params_of(app, "fox --style noir", group=group))["prompt"] == "my noir, fox"
    assert (await params_of(app, "fox --style pastel", group=group))["prompt"] == "pastel, fox"
    assert (await params_of(app, "a __colours__ fox", group=group))["prompt"] == "a mauve fox"
    await flow.save_list(me, "colours", ["teal"])
    assert (await params_of(app, "a __colours__ fox", group=group))["prompt"] == "a teal fox"
    with pytest.raises(InvalidInput, match=r"your styles: noir\)"):
        await params_of(app, "fox --style pastel")  # outside the group: only my own


async def test_wildcards_are_drawn_from_the_seed_and_recorded(app: App) -> None:
    me = await alice(app)
    await styles_of(app).save_list(me, "colours", ["red", "teal:2", "ochre"])
    prompt = "a {fox|wolf:2|owl} in __colours__ light"
    one = await params_of(app, prompt, seed=41)
    assert one == await params_of(app, prompt, seed=41)
    assert "{" not in str(one["prompt"]) and "__" not in str(one["prompt"])
    drawn = one["_wildcards"]
    assert isinstance(drawn, list) and [d["source"] for d in drawn] == [
        "{fox|wolf:2|owl}", "__colours__"]
    assert one["prompt"] == f"a {drawn[0]['value']} in {drawn[1]['value']} light"
    seen = {str((await params_of(app, prompt, seed=s))["prompt"]) for s in range(12)}
    assert len(seen) > 2


async def test_the_card_shows_the_style_and_the_draws(app: App) -> None:
    me = await alice(app)
    await styles_of(app).save_style(me, "noir", "noir, {prompt}")
    job = await app.make_image.make(me, Request("make", {
        "prompt": "a {fox|fox} --style noir", "seed": 3}))
    entry = await app.history.entry(me, job.id)
    assert entry.params["prompt"] == "noir, a fox"
    assert entry.params["_wildcards"] == [{"source": "{fox|fox}", "value": "fox",
                                           "in": "prompt"}]
    card = ReproCard(tool=job.tool, tool_version=job.tool_version, engine=job.engine,
                     params=dict(job.params), job_id=job.id)
    text = card.to_text()
    assert "style:  noir" in text
    assert "drawn:  {fox|fox} → fox" in text
    assert "_wildcards" not in text
    # run again from the card: the same prompt, drawn already, with the same seed
    again = await app.history.quote_rerun(me, ReproCard.from_json(card.to_json()))
    assert (again.params["prompt"], again.params["seed"]) == ("noir, a fox", 3)


async def test_only_the_owner_changes_a_users_styles(app: App) -> None:
    me = await alice(app)
    bob = await app.users.resolve(Identity("test", "bob"))
    with pytest.raises(Forbidden):
        await styles_of(app).save_style(me, "noir", "noir", by=bob)
    with pytest.raises(InvalidInput, match="a style cannot set 'seed'"):
        await styles_of(app).save_style(me, "noir", "noir", defaults={"seed": 1})
    with pytest.raises(InvalidInput, match="the style 'fast' sets steps: steps must be"):
        await styles_of(app).save_style(me, "fast", "fast", defaults={"steps": "many"})
        await params_of(app, "x --style fast")
