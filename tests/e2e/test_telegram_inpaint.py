"""Inpaint on Telegram: a mask sent as a reply to a result with ``/inpaint PROMPT`` as its
caption (or, in a private chat, a plain caption), the 🖌 Vary region link into the web
painter, and bad masks refused with nothing held."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable

import pytest
from PIL import Image

from stationthis.config import Settings
from stationthis.core.users import Identity
from tests.support.fake_telegram import FakeTelegram
from tests.support.fake_telegram_bot import from_bot, run_bot, text_of, wait_message

WEB = "https://studio.example"


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


def mask(width: int, height: int, box: tuple[int, int, int, int] | None) -> bytes:
    img = Image.new("RGB", (width, height), (0, 0, 0))
    if box is not None:
        img.paste((255, 255, 255), box)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def photos(fake: FakeTelegram, chat: object) -> list[dict]:  # type: ignore[type-arg]
    return [m for m in fake.messages_in(chat) if from_bot(m) and "photo" in m]  # type: ignore[arg-type]


def said(text: str) -> Callable[[dict], bool]:  # type: ignore[type-arg]
    return lambda m: from_bot(m) and text in text_of(m)


def links(message: dict) -> dict[str, str]:  # type: ignore[type-arg]
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return {b["text"]: b["url"] for row in rows for b in row if "url" in b}


async def test_a_mask_replying_to_a_result_inpaints_it(
    fake: FakeTelegram, make_settings: Callable[..., Settings]
) -> None:
    alice = fake.user(2601)
    async with run_bot(fake, make_settings, public_url=WEB) as bot:
        fake.send_text(alice, "/make a lighthouse on a cliff --ar 4:3")
        await wait_message(fake, alice, lambda m: len(photos(fake, alice)) >= 1, timeout=30)
        result = photos(fake, alice)[0]
        account = await bot.app.users.resolve(Identity("telegram", "2601"))
        made = (await bot.app.jobs.recent(account.id, limit=1))[0]
        media = made.outputs[0]
        width, height = made.params["width"], made.params["height"]
        assert links(result)["🖌 Vary region"] == f"{WEB}/media/{media}/inpaint"

        before = (await bot.app.ledger.balance(account.id)).total
        fake.send_photo(alice, mask(height, width, (0, 0, 20, 20)), caption="/inpaint a boat",
                        reply_to=result)
        refusal = f"mask is {height}×{width} but the image is {width}×{height}"
        await wait_message(fake, alice, said(refusal), timeout=30)
        fake.send_photo(alice, mask(width, height, None), caption="/inpaint a boat",
                        reply_to=result)
        await wait_message(fake, alice, said("mask is empty"), timeout=30)
        assert (await bot.app.ledger.balance(account.id)).total == before  # nothing held
        assert len(await bot.app.jobs.recent(account.id, limit=10)) == 1

        fake.send_text(alice, "/inpaint a boat", reply_to=result)  # no mask: how, and the link
        await wait_message(fake, alice, said(f"{WEB}/media/{media}/inpaint"), timeout=30)

        box = (width // 4, height // 4, width // 2, height // 2)
        fake.send_photo(alice, mask(width, height, box), caption="/inpaint a red boat",
                        reply_to=result)
        await wait_message(fake, alice, lambda m: len(photos(fake, alice)) >= 2, timeout=30)
        fake.send_photo(alice, mask(width, height, box), caption="a green boat",
                        reply_to=result)  # private chat: a plain caption is the prompt
        await wait_message(fake, alice, lambda m: len(photos(fake, alice)) >= 3, timeout=30)
        jobs = list(reversed(await bot.app.jobs.recent(account.id, limit=10)))
    inpaints = [j for j in jobs if j.tool == "inpaint"]
    assert [j.params["prompt"] for j in inpaints] == ["a red boat", "a green boat"]
    for job in inpaints:
        assert job.state == "succeeded", job.error
        assert job.inputs["image"] == media and job.parent_id == made.id
        assert (job.params["width"], job.params["height"]) == (width, height)
        assert job.inputs["mask"] != media
