"""The servers' LoRAs on the preview engine: listed, described by operators, used by name,
tag or trigger word (visibly changing the image), priced by their factor, and an unknown name
refused with the close names before anything is held."""

from __future__ import annotations

import asyncio
import io

import numpy as np
import pytest
from PIL import Image

from stationthis.core.errors import InvalidInput, NotFound
from stationthis.core.users import Account, Identity
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from stationthis.workflows.server_loras import split_strength, take_tags


async def user(app: App, name: str = "alice", points: int = 5000) -> Account:
    account = await app.users.resolve(Identity("test", name))
    await app.ledger.grant(account.id, points, key=f"test:{name}")
    return account


async def image(app: App, who: Account, prompt: str, **options: object) -> np.ndarray:
    job = await app.make_image.make(who, Request("make", {"prompt": prompt, "seed": 7,
                                                          **options}))
    done = await app.jobs.wait(job.id, timeout=30)
    assert done.state == "succeeded", done.error
    data = await app.media.read(await app.media.get(done.outputs[0]))
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), np.float32)


def test_prompt_tags_and_strengths_are_read() -> None:
    assert take_tags("a fox <lora:ink:0.5> at night <LORA:neon>") == (
        "a fox at night", [("ink", 0.5), ("neon", None)])
    assert take_tags("no tags") == ("no tags", [])
    assert split_strength("ink:0.8") == ("ink", 0.8)
    assert split_strength("my:model") == ("my:model", None)


async def test_the_preview_engine_lists_its_looks(preview_app: App) -> None:
    assert preview_app.server_loras is not None
    names = [lora.name for lora in await preview_app.server_loras.all()]
    assert names == ["preview-ink", "preview-neon", "preview-pixel", "preview-sepia"]


async def test_a_server_lora_by_name_tag_or_trigger_changes_the_image(preview_app: App) -> None:
    app = preview_app
    assert app.server_loras is not None
    alice = await user(app)
    plain = await image(app, alice, "a red fox")
    by_name = await image(app, alice, "a red fox", loras=["preview-sepia"])
    assert np.abs(by_name - plain).mean() > 10
    # sepia: red over green over blue everywhere the picture is not black
    assert by_name[..., 0].mean() > by_name[..., 1].mean() > by_name[..., 2].mean()
    tagged = await image(app, alice, "a red fox <lora:preview-sepia:1>")
    assert np.array_equal(tagged, by_name)
    half = await image(app, alice, "a red fox <lora:preview-sepia:0.5>")
    assert 0 < np.abs(half - plain).mean() < np.abs(by_name - plain).mean()
    await app.server_loras.set("preview-sepia.safetensors", name="Old photo",
                               triggers=["sepiastyle"])
    by_trigger = await image(app, alice, "a red fox")  # the trigger word must be there
    assert np.array_equal(by_trigger, plain)
    job = await app.make_image.make(alice, Request("make", {"prompt": "sepiastyle fox",
                                                            "seed": 7}))
    done = await app.jobs.wait(job.id, timeout=30)
    assert done.params["loras"] == ["Old photo"]
    assert done.params["server_loras"] == {"Old photo": "preview-sepia.safetensors"}


async def test_the_price_factor_multiplies_the_quote(preview_app: App) -> None:
    app = preview_app
    assert app.server_loras is not None
    alice = await user(app)
    base = await app.make_image.quote(alice, Request("make", {"prompt": "a fox"}))
    await app.server_loras.set("preview-neon.safetensors", price_factor=2.5)
    dear = await app.make_image.quote(alice, Request("make", {"prompt": "a fox",
                                                              "loras": ["preview-neon"]}))
    assert dear.points == -(-base.points * 5 // 2)  # ⌈base × 2.5⌉
    job = await app.make_image.make(alice, Request("make", {"prompt": "<lora:preview-neon> x"}))
    assert job.quote == -(-base.points * 5 // 2)


async def test_an_unknown_lora_is_refused_free_with_the_close_names(preview_app: App) -> None:
    app = preview_app
    alice = await user(app, points=100)
    before = (await app.ledger.balance(alice.id)).total
    with pytest.raises(NotFound, match="preview-ink"):
        await app.make_image.make(alice, Request("make", {"prompt": "x", "loras": ["previw-ink"]}))
    with pytest.raises(NotFound, match="no LoRA by that name"):
        await app.make_image.make(alice, Request("make", {"prompt": "x <lora:zzzz>"}))
    assert (await app.ledger.balance(alice.id)).total == before


async def test_operators_describe_only_files_the_servers_have(preview_app: App) -> None:
    app = preview_app
    assert app.server_loras is not None
    with pytest.raises(NotFound, match=r"preview-ink\.safetensors"):
        await app.server_loras.set("preview-inc.safetensors", name="Ink")
    set_by_stem = await app.server_loras.set("preview-ink", name="Ink", triggers=["inky"],
                                             preview="https://example.com/ink.png")
    assert set_by_stem.file_name == "preview-ink.safetensors"
    with pytest.raises(InvalidInput, match="already the LoRA"):
        await app.server_loras.set("preview-neon", name="ink")
    with pytest.raises(InvalidInput, match="https"):
        await app.server_loras.set("preview-neon", preview="javascript:alert(1)")
    with pytest.raises(InvalidInput, match="price factor"):
        await app.server_loras.set("preview-neon", price_factor=-1)
    await app.server_loras.set("preview-pixel", hidden=True)
    listed = {lora.name: lora for lora in await app.server_loras.all()}
    assert "preview-pixel" not in listed
    assert listed["Ink"].triggers == ("inky",)
    with pytest.raises(NotFound):
        await app.server_loras.find("preview-pixel")
    everything = await app.server_loras.all(include_hidden=True)
    assert any(lora.hidden for lora in everything)


async def test_what_an_operator_sets_reaches_every_process(
    preview_app: App, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each process reads the operators' settings at most every ENTRIES_SECONDS (every job
    looks for trigger words): the process that made a change sees it at once, another one
    within that time."""
    from stationthis.workflows import server_loras as module
    from stationthis.workflows.server_loras import ServerLoras

    app = preview_app
    assert app.server_loras is not None
    other = ServerLoras(app.server_loras.catalog, app.engine)  # another process's view
    monkeypatch.setattr(module, "ENTRIES_SECONDS", 0.2)
    before = {lora.file_name: lora for lora in await other.all()}
    changed = await app.server_loras.set("preview-ink.safetensors", name="Ink wash",
                                         triggers=["inkwash"])
    assert changed.name == "Ink wash"
    assert "Ink wash" in [lora.name for lora in await app.server_loras.all()]  # at once here
    assert before["preview-ink.safetensors"].name == "preview-ink"
    for _ in range(40):
        names = [lora.name for lora in await other.all()]
        if "Ink wash" in names:
            break
        await asyncio.sleep(0.05)
    assert "Ink wash" in names
    assert [lora.name for lora in await other.in_prompt("an inkwash fox")] == ["Ink wash"]
