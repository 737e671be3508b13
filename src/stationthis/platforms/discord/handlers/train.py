"""/train: create a dataset (modal), add attached images with a caption, caption them
(command or modal), view readiness, and submit: the quote first, then a confirm button that
holds the points and starts the training. Also 📁 "add to dataset" under results."""

from __future__ import annotations

from typing import Any

from stationthis.core.datasets import Dataset
from stationthis.core.errors import InvalidInput
from stationthis.core.users import Account
from stationthis.platforms.chat import datasets, flows
from stationthis.platforms.discord import render
from stationthis.platforms.discord.handlers.common import Interaction
from stationthis.platforms.discord.handlers.images import download
from stationthis.platforms.discord.ids import unpack


async def command(ix: Interaction) -> None:
    sub = ix.subcommand() or "list"
    handler = {"add": add, "caption": caption, "view": view, "submit": quote,
               "list": listing, "delete": delete}.get(sub)
    if handler is None:
        raise InvalidInput(f"unknown /train subcommand {sub!r}")
    await handler(ix)


async def find(ix: Interaction, user: Account, name: Any) -> Dataset:
    """A dataset of the user by name (or by its number in ``/train list``, or its id)."""
    return await datasets.find(ix.app, user, str(name or ""), render.WORDS)


async def created(ix: Interaction) -> None:
    values = ix.modal_values()
    user = await ix.user()
    ds = await ix.app.datasets.create(user.id, values.get("name", ""),
                                      values.get("trigger") or None)
    await show_dataset(ix, ds, datasets.created_text(
        ds, render.WORDS, "Now `/train add` uploads images with their caption."))


async def show_dataset(ix: Interaction, ds: Dataset, note: str = "") -> None:
    r = ix.app.datasets.readiness(ds)
    await ix.reply(render.message(note, embeds=[render.dataset_embed(ds, r)],
                                  components=render.dataset_components(ds, r.ready)))


async def add(ix: Interaction) -> None:
    user = await ix.user()
    options = ix.options()
    ds = await find(ix, user, options.get("dataset"))
    items = ix.attachments()
    if not items:
        raise InvalidInput("Attach at least one image (image1 … image10).")
    text = str(options.get("caption") or "").strip() or None

    def fetch(item: dict[str, Any]) -> datasets.Fetch:
        return lambda: download(ix, item)

    fresh = await datasets.add(ix, ix.app, ds, [(fetch(item), text) for item in items])
    if fresh is not None:
        r = ix.app.datasets.readiness(fresh)
        await show_dataset(ix, fresh, datasets.added_text(len(items), fresh, r))


async def caption(ix: Interaction) -> None:
    user = await ix.user()
    options = ix.options()
    ds = await find(ix, user, options.get("dataset"))
    number = int(options.get("number") or 0)
    fresh = await datasets.caption(ix.app, user, ds, number, str(options.get("text") or ""))
    await show_dataset(ix, fresh, datasets.caption_text(number))


async def captions_submitted(ix: Interaction, dataset_id: str) -> None:
    user = await ix.user()
    await show_dataset(ix, await datasets.captions(ix.app, user, dataset_id,
                                                   ix.modal_values()))


async def view(ix: Interaction) -> None:
    user = await ix.user()
    await show_dataset(ix, await find(ix, user, ix.options().get("dataset")))


async def listing(ix: Interaction) -> None:
    user = await ix.user()
    found = await ix.app.datasets.list_for(user.id)
    await ix.say(render.datasets_text([(ds, ix.app.datasets.readiness(ds)) for ds in found]))


async def delete(ix: Interaction) -> None:
    """Asks first, as the 🗑 button does (and as on Telegram)."""
    user = await ix.user()
    ds = await find(ix, user, ix.options().get("dataset"))
    await ix.say(datasets.delete_question(ds), components=render.delete_dataset_components(ds))


async def quote(ix: Interaction) -> None:
    user = await ix.user()
    options = ix.options()
    steps = options.get("steps")
    await _quote(ix, user, await find(ix, user, options.get("dataset")),
                 int(steps) if steps is not None else None)


def _options(steps: int | None) -> dict[str, Any]:
    return {"steps": steps} if steps is not None else {}


async def _quote(ix: Interaction, user: Account, ds: Dataset, steps: int | None) -> None:
    priced = await datasets.quote(ix.app, user, ds, _options(steps))
    await ix.say(datasets.quote_text(ds, priced, render.WORDS),
                 components=render.training_quote_components(ds, steps) if priced.fits else [])


async def pressed(ix: Interaction, action: str, parts: list[str]) -> None:
    """🚀 train (quote), ✅ confirm, cancel, 🗑 delete (asks) and its confirm — the message
    is edited in place."""
    user = await ix.user()
    ds = await ix.app.datasets.get(user.id, parts[0])
    steps = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    if action == "ts":
        await _quote(ix, user, ds, steps)
    elif action == "tc":
        await flows.train(ix, ix.app, ds.id, _options(steps))
    elif action == "no":
        await ix.say(datasets.NOT_STARTED, embeds=[], components=[])
    elif action == "xd":
        await ix.say(datasets.delete_question(ds), embeds=[],
                     components=render.delete_dataset_components(ds))
    elif action == "xc":
        await ix.say(await datasets.delete(ix.app, user, ds.id), embeds=[], components=[])


async def caption_form(ix: Interaction, dataset_id: str) -> dict[str, Any]:
    """The caption modal (an immediate response: modals cannot be deferred)."""
    user = await ix.user()
    ds = await ix.app.datasets.get(user.id, dataset_id)
    if not ds.images:
        raise InvalidInput("Add images first: `/train add`.")
    return render.caption_modal(ds)


async def pick(ix: Interaction, media_id: str) -> None:
    """📁 under a result: choose the dataset to add the image to."""
    user = await ix.user()
    found = await datasets.pickable(ix.app, user, media_id)
    if not found:
        await ix.say(datasets.none_yet(render.WORDS))
        return
    await ix.say(datasets.PICK, components=render.pick_dataset_components(media_id, found))


async def add_output(ix: Interaction, media_id: str, values: list[str]) -> None:
    user = await ix.user()
    if not values:
        raise InvalidInput("Choose a dataset.")
    await ix.say(await datasets.add_output(ix.app, user, media_id, values[0]), components=[])


def dataset_of(custom_id: str) -> str:
    return (unpack(custom_id)[1] or [""])[0]
