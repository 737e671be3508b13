"""The whole training path in chat: a dataset from an album, captions, the quote with a
confirm button, the trained model, and a /make that uses it (real preview engine)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable

import pytest
from PIL import Image

from stationthis.config import Settings
from stationthis.core.users import Identity
from tests.support.fake_telegram import FakeTelegram
from tests.support.fake_telegram_bot import buttons, from_bot, run_bot, text_of, wait_message


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def png(colour: tuple[int, int, int], size: int = 320) -> bytes:
    image = Image.new("RGB", (size, size), colour)
    for x in range(0, size, 16):  # some structure, so images differ beyond their colour
        image.paste((255 - colour[0], colour[1], 255 - colour[2]), (x, x, x + 8, x + 8))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


COLOURS = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40)]


def said(text: str) -> Callable[[dict], bool]:  # type: ignore[type-arg]
    return lambda m: from_bot(m) and text in text_of(m)


async def test_album_to_trained_model_to_a_make_that_uses_it(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1301)
    async with run_bot(fake, make_settings, new_user_grant=2000) as bot:
        fake.send_text(alice, "/train create zorbo")
        await wait_message(fake, alice, said("Dataset zorbo created"))
        for n, colour in enumerate(COLOURS):
            caption = "/train add zorbo zorbo in red" if n == 0 else f"zorbo picture {n}"
            fake.send_photo(alice, png(colour), caption=caption, media_group_id="album-1")
        added = await wait_message(fake, alice, said("Added 4 images"))
        fake.send_text(alice, "/train view zorbo")
        view = await wait_message(fake, alice, said("Images 4/20"))
        fake.press(alice, view, buttons(view)["🚀 Train"])
        quote = await wait_message(fake, alice, said("costs"))
        fake.press(alice, quote, buttons(quote)["🚀 Train"])
        ready = await wait_message(fake, alice, said("is ready"), timeout=60)
        fake.send_text(alice, "/models")
        models = await wait_message(fake, alice, said("Your models"))
        fake.send_text(alice, "/make zorbo on a beach")
        await wait_message(fake, alice, lambda m: from_bot(m) and "photo" in m, timeout=30)
        account = await bot.app.users.resolve(Identity("telegram", "1301"))
        [dataset] = await bot.app.datasets.list_for(account.id)
        jobs = await bot.app.jobs.recent(account.id, limit=5)
    assert "captions 4/4" in added["text"] and "ready to train" in added["text"]
    assert [i.caption for i in dataset.images] == ["zorbo in red", "zorbo picture 1",
                                                  "zorbo picture 2", "zorbo picture 3"]
    assert f"costs {1000 + 4 * 50 + 20 * 15} points" in quote["text"]  # 1500 steps
    assert "zorbo" in ready["text"] and "/make zorbo" in ready["text"]
    assert "trigger zorbo" in models["text"]
    make, training = jobs[0], jobs[1]
    assert training.tool == "train" and training.state == "succeeded"
    assert make.state == "succeeded" and make.params.get("loras") == ["zorbo"]


async def test_album_larger_than_the_free_slots_adds_nothing(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1302)
    async with run_bot(fake, make_settings, dataset_max_images=3) as bot:
        fake.send_text(alice, "/train create tiny")
        await wait_message(fake, alice, said("created"))
        for n, colour in enumerate(COLOURS):
            fake.send_photo(alice, png(colour), caption="/train add tiny" if n == 0 else None,
                            media_group_id="album-2")
        refused = await wait_message(fake, alice, said("do not fit"))
        account = await bot.app.users.resolve(Identity("telegram", "1302"))
        [dataset] = await bot.app.datasets.list_for(account.id)
    assert "3 free slots" in refused["text"] and "Nothing was added" in refused["text"]
    assert dataset.images == ()


async def test_add_by_reply_caption_edit_delete_with_confirm(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(1303)
    async with run_bot(fake, make_settings) as bot:
        fake.send_text(alice, "/train create pets")
        await wait_message(fake, alice, said("created"))
        sent = fake.send_photo(alice, png((10, 120, 200)), caption="pets on a sofa")
        await wait_message(fake, alice, said("Got it"))
        fake.send_text(alice, "/train add pets", reply_to=sent["message"])
        await wait_message(fake, alice, said("Added 1 image"))
        fake.send_text(alice, "/train caption pets 1 pets in the sun")
        await wait_message(fake, alice, said("Caption of image 1 set"))
        fake.send_text(alice, "/train submit pets")
        not_ready = await wait_message(fake, alice, said("not ready"))
        fake.send_text(alice, "/train delete pets")
        confirm = await wait_message(fake, alice, said("Delete pets"))
        account = await bot.app.users.resolve(Identity("telegram", "1303"))
        [before] = await bot.app.datasets.list_for(account.id)
        fake.press(alice, confirm, buttons(confirm)["🗑 Delete"])
        await wait_message(fake, alice, said("Dataset pets deleted"))
        after = await bot.app.datasets.list_for(account.id)
    assert [i.caption for i in before.images] == ["pets in the sun"]
    assert "add 3 more images" in not_ready["text"]
    assert after == []
