"""Per-user settings and group defaults through the wired app: the value order, where each
value comes from, reset, the limits of each tier (refused with the allowed range, before
anything is held), the size shorthand and the default tool."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings, TierLimits
from stationthis.core.errors import Forbidden, InvalidInput
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.support.scripted import ScriptedEngine

BUILTIN = Path(__file__).resolve().parents[2] / "src" / "stationthis" / "builtin_tools"


async def user(app: App, name: str = "alice") -> Account:
    return await app.users.resolve(Identity("test", name))


async def group(app: App, name: str = "-100") -> Account:
    return await app.users.resolve(Identity("telegram", name), kind="group")


async def kinds(app: App, account: Account) -> list[str]:
    return [e.kind for e in reversed(await app.ledger.history(account.id))]


def fox(**options: object) -> Request:
    return Request("make", {"prompt": "a red fox", **options})


# ----- value order ----------------------------------------------------------------------------


async def test_value_order_explicit_then_user_then_group_then_tool_default(app: App) -> None:
    alice, chat = await user(app), await group(app)
    await app.user_settings.set(alice, "steps", "30")
    await app.user_settings.set(alice, "negative", "blurry")
    await app.user_settings.set_group(None, chat, "steps", 40)
    await app.user_settings.set_group(None, chat, "cfg", "5")
    await app.user_settings.set_group(None, chat, "negative", "watermark")

    params = (await app.make_image.quote(alice, fox(), group=chat)).params
    assert params["steps"] == 30  # the user's setting beats the group's default
    assert params["negative"] == "blurry"
    assert params["cfg"] == 5.0  # the group's default beats the tool's
    assert (params["width"], params["height"]) == (512, 512)  # the tool's default
    explicit = (await app.make_image.quote(alice, fox(steps=25, cfg=8), group=chat)).params
    assert (explicit["steps"], explicit["cfg"]) == (25, 8.0)  # explicit beats everything

    view = await app.user_settings.show(alice, chat)
    assert (view["steps"].value, view["steps"].source) == (30, "user")
    assert (view["cfg"].value, view["cfg"].source) == (5.0, "group")
    assert isinstance(view["cfg"].value, float)  # also where SQLite's JSON keeps 5.0 as 5
    assert (view["width"].value, view["width"].source) == (512, "default")
    assert (view["steps"].low, view["steps"].high, view["steps"].tier) == (1, 48, "free")
    assert view.tier == "free" and view.tool == "make"


async def test_a_job_runs_with_the_resolved_settings(app: App) -> None:
    alice, chat = await user(app), await group(app)
    await app.user_settings.set(alice, "size", "768x640")
    await app.user_settings.set_group(None, chat, "steps", "24")
    job = await app.make_image.make(alice, fox(seed=3), group=chat)
    assert (job.params["width"], job.params["height"], job.params["steps"]) == (768, 640, 24)
    assert job.params["seed"] == 3
    assert (await app.jobs.wait(job.id, timeout=10)).state == "succeeded"


async def test_group_defaults_apply_only_to_requests_made_in_that_group(app: App) -> None:
    alice, chat, other = await user(app), await group(app, "-100"), await group(app, "-200")
    await app.user_settings.set_group(None, chat, "cfg", 4)
    assert (await app.make_image.quote(alice, fox(), group=chat)).params["cfg"] == 4.0
    assert (await app.make_image.quote(alice, fox())).params["cfg"] == 7.0
    assert (await app.make_image.quote(alice, fox(), group=other)).params["cfg"] == 7.0
    assert (await app.user_settings.show(alice))["cfg"].source == "default"
    group_view = await app.user_settings.show_group(chat)
    assert (group_view["cfg"].value, group_view["cfg"].source) == (4.0, "group")


async def test_seed_setting_and_random(app: App) -> None:
    alice = await user(app)
    await app.user_settings.set(alice, "seed", 42)
    assert (await app.make_image.quote(alice, fox())).params["seed"] == 42
    await app.user_settings.set(alice, "seed", "random")
    assert (await app.user_settings.show(alice))["seed"].value == -1
    seeds = {(await app.make_image.quote(alice, fox())).params["seed"] for _ in range(3)}
    assert len(seeds) > 1 and all(s >= 0 for s in seeds)


# ----- reset ----------------------------------------------------------------------------------


async def test_reset_one_key_or_all(app: App) -> None:
    alice = await user(app)
    await app.user_settings.set(alice, "steps", 30)
    await app.user_settings.set(alice, "size", "1024")
    await app.user_settings.set(alice, "checkpoint", "sdxl.safetensors")
    view = await app.user_settings.reset(alice, "steps")
    assert view["steps"].source == "default" and view["steps"].value == 20
    assert view["width"].value == 1024 and view["checkpoint"].source == "user"
    view = await app.user_settings.reset(alice, "size")
    assert view["width"].source == view["height"].source == "default"
    assert view["checkpoint"].value == "sdxl.safetensors"
    view = await app.user_settings.reset(alice)
    assert all(item.source == "default" for item in view.items.values())
    assert await app.preferences.get(alice.id) == {}


async def test_an_empty_value_clears_a_setting(app: App) -> None:
    alice = await user(app)
    await app.user_settings.set(alice, "negative", "blurry")
    view = await app.user_settings.set(alice, "negative", "  ")
    assert view["negative"].source == "default"


async def test_group_reset(app: App) -> None:
    chat = await group(app)
    await app.user_settings.set_group(None, chat, "steps", 30)
    await app.user_settings.set_group(None, chat, "cfg", 5)
    view = await app.user_settings.reset_group(None, chat, "cfg")
    assert view["cfg"].source == "default" and view["steps"].source == "group"
    view = await app.user_settings.reset_group(None, chat)
    assert view["steps"].source == "default"


# ----- limits ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("steps", "60", "steps must be between 1 and 48 on the free tier (got 60)"),
        ("steps", "0", "steps must be between 1 and 48 on the free tier (got 0)"),
        ("batch", 7, "batch must be between 1 and 6"),
        ("cfg", "31", "cfg must be between 0 and 30"),
        ("strength", "1.5", "strength must be between 0 and 1"),
        ("width", "4096", "width must be between 64 and 2048"),
        ("size", "1024x4096", "height must be between 64 and 2048"),
        ("steps", "lots", "steps must be an integer"),
        ("cfg", "nan", "cfg must be a number"),
        ("seed", "-2", "seed must be between -1 and 4294967295"),
    ],
)
async def test_out_of_range_values_are_refused_with_the_allowed_range(
    app: App, key: str, value: object, message: str
) -> None:
    alice = await user(app)
    with pytest.raises(InvalidInput) as err:
        await app.user_settings.set(alice, key, value)
    assert message in err.value.message
    assert await app.preferences.get(alice.id) == {}


async def test_a_pro_user_is_allowed_more(app: App) -> None:
    alice = await app.admin.set_tier(await user(app), "pro")
    view = await app.user_settings.set(alice, "steps", 100)
    assert view["steps"].value == 100 and view["steps"].high == 150 and view.tier == "pro"
    assert view["steps"].tier is None  # the tool's own bound (150) is the binding one now
    with pytest.raises(InvalidInput, match="between 1 and 150"):
        await app.user_settings.set(alice, "steps", 151)
    assert (await app.make_image.quote(alice, fox())).params["steps"] == 100
    assert (await app.make_image.quote(alice, fox(steps=120))).params["steps"] == 120


async def test_an_unknown_tier_counts_as_free(app: App) -> None:
    alice = await user(app)
    await app.users.set_tier(alice.id, "platinum")  # e.g. a tier removed from the settings
    alice = await app.users.get(alice.id)
    assert (await app.user_settings.show(alice)).tier == "free"
    with pytest.raises(InvalidInput, match="between 1 and 48 on the free tier"):
        await app.make_image.quote(alice, fox(steps=60))


async def test_explicit_options_over_the_tier_are_refused_before_anything_is_held(
    app: App, engine: ScriptedEngine
) -> None:
    alice = await user(app)
    before = await app.ledger.balance(alice.id)
    with pytest.raises(InvalidInput, match="steps must be between 1 and 48 on the free tier"):
        await app.make_image.make(alice, fox(steps=60))
    with pytest.raises(InvalidInput, match="between 1 and 48 on the free tier"):
        await app.make_image.quote(alice, fox(steps=60))
    assert await kinds(app, alice) == ["allowance"]
    assert await app.ledger.balance(alice.id) == before
    assert await app.jobs.list_for(alice.id) == [] and engine.submits == []


async def test_settings_beyond_a_lowered_tier_are_brought_within_it(app: App) -> None:
    alice = await app.admin.set_tier(await user(app), "pro")
    await app.user_settings.set(alice, "steps", 100)
    alice = await app.admin.set_tier(alice, "free")
    assert (await app.make_image.quote(alice, fox())).params["steps"] == 48


async def test_a_group_on_a_better_tier_lifts_its_members_limits(app: App) -> None:
    alice, chat = await user(app), await group(app)
    chat = await app.admin.set_tier(chat, "pro")
    assert (await app.make_image.quote(alice, fox(steps=100), group=chat)).params["steps"] == 100
    with pytest.raises(InvalidInput, match="on the free tier"):
        await app.make_image.quote(alice, fox(steps=100))
    # Group defaults are checked against the group's tier.
    await app.user_settings.set_group(None, chat, "steps", 90)
    assert (await app.make_image.quote(alice, fox(), group=chat)).params["steps"] == 90
    assert (await app.user_settings.show(alice, chat))["steps"].high == 150


async def test_pixel_limit_of_a_tier(make_settings: Callable[..., Settings]) -> None:
    tiers = {"free": TierLimits(max_pixels=1024 * 1024)}
    async with build(make_settings(tiers=tiers), engine=ScriptedEngine()) as app:
        alice = await user(app)
        with pytest.raises(InvalidInput, match=r"at most 1048576 pixels .* free tier"):
            await app.user_settings.set(alice, "size", "2048x1024")
        await app.user_settings.set(alice, "size", "1024x1024")
        with pytest.raises(InvalidInput, match="at most 1048576 pixels"):
            await app.user_settings.set(alice, "width", "1536")
        with pytest.raises(InvalidInput, match="at most 1048576 pixels"):
            await app.make_image.quote(alice, fox(width=2048, height=1024))


# ----- keys and values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "size"),
    [("1024x768", (1024, 768)), ("1024 768", (1024, 768)), ("1024×768", (1024, 768)),
     (" 640X512 ", (640, 512)), ("1024,768", (1024, 768)), ("768", (768, 768)),
     ([512, 768], (512, 768))],
)
async def test_size_shorthand_sets_width_and_height(
    app: App, text: object, size: tuple[int, int]
) -> None:
    alice = await user(app)
    view = await app.user_settings.set(alice, "size", text)
    assert (view["width"].value, view["height"].value) == size
    assert (view["width"].source, view["height"].source) == ("user", "user")


@pytest.mark.parametrize("text", ["big", "1024x", "x768", "1024x768x2"])
async def test_a_size_that_is_not_two_numbers_is_refused(app: App, text: str) -> None:
    with pytest.raises(InvalidInput, match="size takes WIDTH HEIGHT"):
        await app.user_settings.set(await user(app), "size", text)


async def test_an_unknown_key_is_refused_listing_the_keys(app: App) -> None:
    with pytest.raises(InvalidInput) as err:
        await app.user_settings.set(await user(app), "sampler", "euler")
    message = err.value.message
    assert "unknown setting 'sampler'" in message
    for key in ("size", "width", "height", "steps", "cfg", "strength", "seed", "batch",
                "negative", "checkpoint", "tool"):
        assert key in message


async def test_keys_are_case_insensitive_and_text_is_checked(app: App) -> None:
    alice = await user(app)
    view = await app.user_settings.set(alice, " Steps ", "32")
    assert view["steps"].value == 32
    with pytest.raises(InvalidInput, match="limit is 200"):
        await app.user_settings.set(alice, "checkpoint", "x" * 201)


@pytest.fixture
def tools_dir(tmp_path: Path) -> Path:
    """An extra txt2img tool, ``sketch``: the built-in ``make`` under another name."""
    folder = tmp_path / "tools"
    folder.mkdir()
    data = json.loads((BUILTIN / "make.json").read_text())
    data["name"] = "sketch"
    (folder / "sketch.json").write_text(json.dumps(data))
    return folder


@pytest.fixture
async def tool_app(
    make_settings: Callable[..., Settings], tools_dir: Path
) -> AsyncIterator[App]:
    async with build(make_settings(tools_dir=tools_dir), engine=ScriptedEngine()) as app:
        yield app


async def test_the_tool_preference_must_be_an_existing_txt2img_tool(tool_app: App) -> None:
    alice = await user(tool_app)
    for bad in ("upscale", "paint"):
        with pytest.raises(InvalidInput, match="text-to-image tool: make, sketch"):
            await tool_app.user_settings.set(alice, "tool", bad)
    assert await tool_app.make_image.default_tool(alice) == "make"
    view = await tool_app.user_settings.set(alice, "tool", "sketch")
    assert (view["tool"].value, view["tool"].source) == ("sketch", "user")
    assert view["tool"].choices == ("make", "sketch")
    assert await tool_app.make_image.default_tool(alice) == "sketch"


async def test_the_group_default_tool_applies_in_the_group(tool_app: App) -> None:
    alice, chat = await user(tool_app), await group(tool_app)
    await tool_app.user_settings.set_group(None, chat, "tool", "sketch")
    assert await tool_app.make_image.default_tool(alice, chat) == "sketch"
    assert await tool_app.make_image.default_tool(alice) == "make"
    await tool_app.user_settings.set(alice, "tool", "make")
    assert await tool_app.make_image.default_tool(alice, chat) == "make"


async def test_group_settings_need_a_group_and_an_unbanned_admin(app: App) -> None:
    alice, bob, chat = await user(app), await user(app, "bob"), await group(app)
    with pytest.raises(InvalidInput, match="is not a group"):
        await app.user_settings.set_group(alice, bob, "steps", 30)
    banned = await app.admin.ban(alice)
    with pytest.raises(Forbidden):
        await app.user_settings.set_group(banned, chat, "steps", 30)
    view = await app.user_settings.set_group(bob, chat, "steps", 30)
    assert view["steps"].source == "group"
