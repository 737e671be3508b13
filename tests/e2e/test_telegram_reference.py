"""/ref on Telegram: a new picture that follows a reference image sent as a reply to a photo,
an image file or one of the bot's results (or as the photo's caption), the kind picked by its
first word; without an image or a prompt it says how, for free; a ComfyUI server that lacks
a kind's node refuses it by name and nothing is charged."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.config import Settings
from stationthis.core.users import Identity
from tests.support.fake_comfyui import FakeComfyUI
from tests.support.fake_telegram import FakeTelegram
from tests.support.fake_telegram_bot import from_bot, run_bot, text_of, wait_message
from tests.support.scripted import png
from tests.unit.test_comfyui_engine import engine_for


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def photos(fake: FakeTelegram, chat: object) -> list[dict]:  # type: ignore[type-arg]
    return [m for m in fake.messages_in(chat) if from_bot(m) and "photo" in m]  # type: ignore[arg-type]


def said(text: str) -> Callable[[dict], bool]:  # type: ignore[type-arg]
    return lambda m: from_bot(m) and text in text_of(m)


async def test_ref_replying_to_a_photo_a_file_or_a_result_follows_it(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(2701)
    async with run_bot(fake, make_settings) as bot:
        photo = fake.send_photo(alice, png(160, 96, (200, 40, 40)))
        fake.send_text(alice, "/ref a castle at dusk", reply_to=photo["message"])
        await wait_message(fake, alice, lambda m: len(photos(fake, alice)) >= 1, timeout=30)
        result = photos(fake, alice)[0]

        fake.send_text(alice, "/ref pose a dancer", reply_to=result)  # one of the bot's results
        await wait_message(fake, alice, lambda m: len(photos(fake, alice)) >= 2, timeout=30)
        document = fake.send_document(alice, png(64, 128), "sketch.png", "image/png")
        fake.send_text(alice, "/ref style a forest", reply_to=document["message"])
        await wait_message(fake, alice, lambda m: len(photos(fake, alice)) >= 3, timeout=30)
        fake.send_photo(alice, png(96, 96), caption="/ref depth a valley")  # its own caption
        await wait_message(fake, alice, lambda m: len(photos(fake, alice)) >= 4, timeout=30)

        account = await bot.app.users.resolve(Identity("telegram", "2701"))
        jobs = list(reversed(await bot.app.jobs.recent(account.id, limit=10)))
    assert [(j.tool, j.params["prompt"]) for j in jobs] == [
        ("reference", "a castle at dusk"), ("reference-pose", "a dancer"),
        ("reference-style", "a forest"), ("reference-depth", "a valley")]
    for job in jobs:
        assert job.state == "succeeded", job.error
        assert set(job.inputs) == {"image"}
    first = jobs[0]
    assert (first.params["width"], first.params["height"]) == (160, 96)  # the reference's
    assert jobs[1].inputs["image"] == first.outputs[0]  # the result itself, not a re-upload
    assert (jobs[2].params["width"], jobs[2].params["height"]) == (64, 128)
    assert first.cost is not None and first.cost > 0


async def test_ref_without_an_image_or_a_prompt_says_how_for_free(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(2702)
    async with run_bot(fake, make_settings) as bot:
        account = await bot.app.users.resolve(Identity("telegram", "2702"))
        before = (await bot.app.ledger.balance(account.id)).total
        fake.send_text(alice, "/ref a castle")
        how = await wait_message(fake, alice, said("follows a reference image"), timeout=30)
        photo = fake.send_photo(alice, png(64, 64))
        fake.send_text(alice, "/ref", reply_to=photo["message"])
        await wait_message(fake, alice, said("Say what to draw"), timeout=30)
        fake.send_text(alice, "/ref pose", reply_to=photo["message"])
        await wait_message(fake, alice, lambda m: len([x for x in fake.messages_in(alice)
                                                       if said("Say what to draw")(x)]) >= 2,
                           timeout=30)
        assert await bot.app.jobs.recent(account.id, limit=5) == []
        assert (await bot.app.ledger.balance(account.id)).total == before
    text = text_of(how)
    assert "reply to it" in text and "/ref a castle at dusk" in text
    for kind in ("canny", "pose", "depth", "style"):
        assert kind in text


async def test_a_server_lacking_the_pose_node_refuses_it_by_name_for_free(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(2703)
    async with FakeComfyUI() as comfy, run_bot(fake, make_settings,
                                               engine=engine_for(comfy.url)) as bot:
        photo = fake.send_photo(alice, png(96, 64))
        account = await bot.app.users.resolve(Identity("telegram", "2703"))
        before = (await bot.app.ledger.balance(account.id)).total
        fake.send_text(alice, "/ref pose a dancer", reply_to=photo["message"])
        failed = await wait_message(fake, alice, said("reference-pose failed"), timeout=30)
        assert (await bot.app.ledger.balance(account.id)).total == before
    assert "DWPreprocessor" in text_of(failed) and "comfyui_controlnet_aux" in text_of(failed)
    assert "nothing was charged" in text_of(failed).lower()
