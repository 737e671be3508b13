"""Parameters written in a prompt (``--ar 16:9 --seed 5 --no text --steps 30 --batch 2``):
taken out of the prompt, applied as inputs, and checked like any other input — through the
wired app's make-image workflow, which every platform uses."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings, TierLimits
from stationthis.core.errors import InvalidInput
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from stationthis.workflows.prompt_params import parse, size_for
from tests.support.scripted import ScriptedEngine


async def alice(app: App) -> Account:
    return await app.users.resolve(Identity("test", "alice"))


async def params_of(app: App, prompt: str, **options: object) -> dict[str, object]:
    request = Request("make", {"prompt": prompt, **options})
    return (await app.make_image.quote(await alice(app), request)).params


# ----- the parser ---------------------------------------------------------------------------


def test_parameters_leave_the_prompt_and_become_options() -> None:
    found = parse("a red fox at dusk --ar 16:9 --seed 5 --steps 30 --batch 2 --no text, logo")
    assert found.prompt == "a red fox at dusk"
    assert found.options == {"seed": "5", "steps": "30", "batch": "2"}
    assert found.ratio == (16, 9)
    assert found.no == "text, logo"


def test_a_prompt_without_parameters_is_left_as_it_is() -> None:
    text = "a sign that says -- stop --  here\nand a fox"
    found = parse(text)
    assert found.prompt == text and not found.any


def test_phone_dashes_and_aspect_are_understood() -> None:
    found = parse("a fox —aspect 2:3 –seed 9")
    assert (found.prompt, found.ratio, found.options) == ("a fox", (2, 3), {"seed": "9"})


@pytest.mark.parametrize(("prompt", "message"), [
    ("a fox --v 6", "unknown parameter --v in the prompt; known: --ar W:H"),
    ("a fox --seed", "--seed needs a value, e.g. --seed 5"),
    ("a fox --seed 1 --seed 2", "--seed is given twice in the prompt"),
    ("a fox --ar wide", "--ar takes W:H, e.g. --ar 16:9 (got 'wide')"),
    ("a fox --ar 10:1", "--ar must be between 1:4 and 4:1 (got 10:1)"),
    ("a fox --ar 0:1", "--ar takes W:H"),
])
def test_a_malformed_parameter_is_refused_saying_how(prompt: str, message: str) -> None:
    with pytest.raises(InvalidInput) as err:
        parse(prompt)
    assert message in err.value.message


def test_the_ratio_keeps_about_the_area_in_multiples_of_8() -> None:
    assert size_for((16, 9), 512 * 512, 2048, 2048 * 2048) == (680, 384)
    assert size_for((9, 16), 512 * 512, 2048, 2048 * 2048) == (384, 680)
    assert size_for((1, 1), 1024 * 1024, 2048, 2048 * 2048) == (1024, 1024)
    # a tier's largest side and area shrink it, keeping the ratio
    assert size_for((4, 1), 1024 * 1024, 1024, 2048 * 2048) == (1024, 256)
    assert size_for((1, 1), 2048 * 2048, 2048, 1024 * 1024) == (1024, 1024)


# ----- through the make-image workflow -------------------------------------------------------


async def test_the_parameters_reach_the_job_and_leave_the_prompt(app: App) -> None:
    params = await params_of(app, "a red fox --ar 16:9 --seed 5 --steps 30 --batch 2 --no text")
    assert params["prompt"] == "a red fox"
    assert (params["width"], params["height"]) == (680, 384)
    assert (params["seed"], params["steps"], params["batch"]) == (5, 30, 2)
    assert params["negative"] == "text"


async def test_what_is_written_in_the_prompt_wins_over_options_and_settings(app: App) -> None:
    """Forms send their defaults too: the prompt is what the person typed last."""
    me = await alice(app)
    await app.user_settings.set(me, "negative", "blurry")
    await app.user_settings.set(me, "size", "1024x1024")
    params = await params_of(app, "a fox --seed 5 --ar 1:2 --no text", seed=7, steps=20)
    assert params["seed"] == 5
    assert params["negative"] == "blurry, text"  # --no adds to the negative prompt
    assert (params["width"], params["height"]) == (720, 1448)  # about 1024² at 1:2


async def test_the_values_are_checked_like_other_inputs(app: App) -> None:
    with pytest.raises(InvalidInput) as err:
        await params_of(app, "a fox --steps 60")
    assert "steps must be between 1 and 48 on the free tier (got 60)" in err.value.message
    with pytest.raises(InvalidInput) as err:
        await params_of(app, "a fox --seed many")
    assert err.value.message == "seed must be an integer"
    with pytest.raises(InvalidInput) as err:
        await params_of(app, "--ar 16:9")
    assert err.value.message == "make needs a prompt"


async def test_the_ratio_stays_within_the_tier(
    make_settings: Callable[..., Settings], engine: ScriptedEngine
) -> None:
    settings = make_settings(tiers={"free": TierLimits(max_side=768, max_pixels=768 * 768)})
    app = build(settings, engine=engine)
    await app.start()
    try:
        params = await params_of(app, "a fox --ar 4:1", width=768, height=768)
    finally:
        await app.stop()
    assert (params["width"], params["height"]) == (768, 192)
