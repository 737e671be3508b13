"""/train: create a dataset (modal), add attached images with a caption, caption them
(command or modal), view readiness, and submit: the quote first, then a confirm button that
holds the points and starts the training. Also 📁 "add to dataset" under results."""

from __future__ import annotations

from typing import Any

from stationthis.core.datasets import Dataset
from stationthis.core.errors import InvalidInput, NotFound
from stationthis.core.users import Account
from stationthis.platforms.chat import flows
from stationthis.platforms.chat.limits import UPLOAD
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
    """A dataset of the user by name (or by its number in ``/train list``)."""
    wanted = str(name or "").strip()
    if not wanted:
        raise InvalidInput("Name the dataset (see `/train list`).")
    found = await ix.app.datasets.list_for(user.id)
    for number, ds in enumerate(found, start=1):
        if ds.name.lower() == wanted.lower() or wanted == str(number) or wanted == ds.id:
            return ds
    raise NotFound(f"you have no dataset named {wanted!r} (see `/train list`)")


async def created(ix: Interaction) -> None:
    values = ix.modal_values()
    user = await ix.user()
    ds = await ix.app.datasets.create(user.id, values.get("name", ""),
                                      values.get("trigger") or None)
    await show_dataset(ix, ds)


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
    if not await ix.allowed(UPLOAD * len(items)):
        return
    batch = [(await download(ix, item), text) for item in items]
    added = await ix.app.datasets.add_images(user.id, ds.id, batch)
    ds = await ix.app.datasets.get(user.id, ds.id)
    await show_dataset(ix, ds, f"Added {len(added)} image{'s' if len(added) != 1 else ''}.")


async def caption(ix: Interaction) -> None:
    user = await ix.user()
    options = ix.options()
    ds = await find(ix, user, options.get("dataset"))
    number = int(options.get("number") or 0)
    if not 1 <= number <= len(ds.images):
        raise InvalidInput(f"{ds.name} has images 1…{len(ds.images)}")
    image = ds.images[number - 1]
    await ix.app.datasets.set_caption(user.id, ds.id, image.id, str(options.get("text") or ""))
    await show_dataset(ix, await ix.app.datasets.get(user.id, ds.id))


async def captions_submitted(ix: Interaction, dataset_id: str) -> None:
    user = await ix.user()
    ds = await ix.app.datasets.get(user.id, dataset_id)
    known = {image.id for image in ds.images}
    for image_id, text in ix.modal_values().items():
        if image_id in known:
            await ix.app.datasets.set_caption(user.id, ds.id, image_id, text.strip() or None)
    await show_dataset(ix, await ix.app.datasets.get(user.id, ds.id))


async def view(ix: Interaction) -> None:
    user = await ix.user()
    await show_dataset(ix, await find(ix, user, ix.options().get("dataset")))


async def listing(ix: Interaction) -> None:
    user = await ix.user()
    found = await ix.app.datasets.list_for(user.id)
    await ix.say(render.datasets_text([(ds, ix.app.datasets.readiness(ds)) for ds in found]))


async def delete(ix: Interaction) -> None:
    user = await ix.user()
    ds = await find(ix, user, ix.options().get("dataset"))
    await ix.app.datasets.delete(user.id, ds.id)
    await ix.say(f"Deleted the dataset {ds.name}.", components=[])


async def quote(ix: Interaction) -> None:
    user = await ix.user()
    options = ix.options()
    steps = options.get("steps")
    await _quote(ix, user, await find(ix, user, options.get("dataset")),
                 int(steps) if steps is not None else None)


def _options(steps: int | None) -> dict[str, Any]:
    return {"steps": steps} if steps is not None else {}


async def _quote(ix: Interaction, user: Account, ds: Dataset, steps: int | None) -> None:
    r = ix.app.datasets.readiness(ds)
    if not r.ready:
        raise InvalidInput(f"{ds.name} is not ready to train: {r.reason}")
    priced = await ix.app.training.quote(user, ds.id, _options(steps))
    if not priced.fits:
        await ix.say(render.short_of_points(priced), components=[])
        return
    await ix.say(render.training_quote_text(ds, priced),
                 components=render.training_quote_components(ds, steps))


async def pressed(ix: Interaction, action: str, parts: list[str]) -> None:
    """🚀 train (quote), ✅ confirm, cancel, 🗑 delete — the message is edited in place."""
    user = await ix.user()
    ds = await ix.app.datasets.get(user.id, parts[0])
    steps = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    if action == "ts":
        await _quote(ix, user, ds, steps)
    elif action == "tc":
        await flows.train(ix, ix.app, ds.id, _options(steps))
    elif action == "no":
        await ix.say("Not started; nothing was charged.", components=[])
    elif action == "xd":
        await ix.app.datasets.delete(user.id, ds.id)
        await ix.say(f"Deleted the dataset {ds.name}.", embeds=[], components=[])


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
    await ix.app.media.get(media_id, owner_id=user.id)
    found = await ix.app.datasets.list_for(user.id)
    if not found:
        await ix.say("You have no datasets yet: `/train create` makes one.")
        return
    await ix.say("Add this image to which dataset?",
                 components=render.pick_dataset_components(media_id, found))


async def add_output(ix: Interaction, media_id: str, values: list[str]) -> None:
    user = await ix.user()
    if not values:
        raise InvalidInput("Choose a dataset.")
    item = await ix.app.media.get(media_id, owner_id=user.id)
    ds = await ix.app.datasets.get(user.id, values[0])
    prompt = None
    if item.job_id is not None:
        job = await ix.app.jobs.get_owned(item.job_id, user.id)
        prompt = str(job.params.get("prompt") or "") or None
    await ix.app.datasets.add_images(user.id, ds.id, [(await ix.app.media.read(item), prompt)])
    ds = await ix.app.datasets.get(user.id, ds.id)
    await ix.say(f"📁 Added to {ds.name} ({len(ds.images)}/{ix.app.datasets.max_images}).",
                 components=[])


def dataset_of(custom_id: str) -> str:
    return (unpack(custom_id)[1] or [""])[0]
