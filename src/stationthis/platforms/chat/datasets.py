"""Datasets and the training's confirm as Telegram and Discord share them: which dataset a
user means, adding photos (all or nothing, within the allowance), a caption by its number,
the quote before the confirm button, the 📁 button under a result, and what each step says.
The platforms parse their input, draw the buttons and send; the texts are here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from stationthis.core.datasets import Dataset, Readiness
from stationthis.core.errors import InvalidInput, NotFound
from stationthis.core.users import Account
from stationthis.platforms.chat.limits import UPLOAD
from stationthis.platforms.chat.turn import ChatTurn, Words
from stationthis.workflows.services import Services
from stationthis.workflows.training import TrainingQuote

Fetch = Callable[[], Awaitable[bytes]]  # an image's bytes, downloaded when needed
PICK = "Add it to which dataset?"
NOT_STARTED = "Cancelled; nothing was charged or changed."


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


async def find(app: Services, user: Account, ref: str, words: Words) -> Dataset:
    """A dataset of the user's by its number in the list, its name (any case) or its id."""
    wanted = " ".join(str(ref or "").split())
    listed = words.command("/train list")
    if not wanted:
        raise InvalidInput(f"Name the dataset (see {listed}).")
    found = await app.datasets.list_for(user.id)
    if wanted.isdigit() and 1 <= int(wanted) <= len(found):
        return found[int(wanted) - 1]
    for ds in found:
        if wanted.lower() == ds.name.lower() or wanted == ds.id:
            return ds
    raise NotFound(f"you have no dataset named {wanted!r} (see {listed})")


def created_text(ds: Dataset, words: Words, how: str) -> str:
    """After ``/train create``; ``how`` says how this platform adds photos."""
    return f"Dataset {words.strong(ds.name)} created (trigger {ds.trigger}). {how}"


async def add(turn: ChatTurn, app: Services, ds: Dataset,
              items: Sequence[tuple[Fetch, str | None]]) -> Dataset | None:
    """Add photos with their captions: refused whole when they do not fit, charged to the
    speaker's allowance (None when refused: the turn said why). The dataset as it is now."""
    if not items:
        raise InvalidInput("Add at least one image.")
    free = app.datasets.max_images - len(ds.images)
    if len(items) > free:
        raise InvalidInput(f"{len(items)} images do not fit: {ds.name} has "
                           f"{plural(free, 'free slot')} of {app.datasets.max_images}. "
                           "Nothing was added.")
    if not await turn.allowed(UPLOAD * len(items)):
        return None
    user = await turn.user()
    batch = [(await fetch(), caption) for fetch, caption in items]
    await app.datasets.add_images(user.id, ds.id, batch)
    return await app.datasets.get(user.id, ds.id)


def added_text(count: int, ds: Dataset, r: Readiness) -> str:
    return (f"Added {plural(count, 'image')} to {ds.name}: images {r.images}/{r.max_images}, "
            f"captions {r.captioned}/{r.images} · {r.reason}")


async def caption(app: Services, user: Account, ds: Dataset, number: int, text: str | None
                  ) -> Dataset:
    """The caption of image ``number`` (from 1); the dataset as it is now."""
    if not 1 <= number <= len(ds.images):
        raise InvalidInput(f"{ds.name} has images 1…{len(ds.images)}." if ds.images
                           else f"{ds.name} has no images yet.")
    await app.datasets.set_caption(user.id, ds.id, ds.images[number - 1].id,
                                   (text or "").strip() or None)
    return await app.datasets.get(user.id, ds.id)


def caption_text(number: int) -> str:
    return f"Caption of image {number} set."


async def captions(app: Services, user: Account, dataset_id: str, values: dict[str, str]
                   ) -> Dataset:
    """Several captions by image id (a form); ids not in the dataset are ignored."""
    ds = await app.datasets.get(user.id, dataset_id)
    known = {image.id for image in ds.images}
    for image_id, text in values.items():
        if image_id in known:
            await app.datasets.set_caption(user.id, ds.id, image_id, text.strip() or None)
    return await app.datasets.get(user.id, ds.id)


async def quote(app: Services, user: Account, ds: Dataset,
                options: dict[str, Any] | None = None) -> TrainingQuote:
    """The training's price, once the dataset is ready (else a clear refusal)."""
    r = app.datasets.readiness(ds)
    if not r.ready:
        raise InvalidInput(f"{ds.name} is not ready to train: {r.reason}.")
    return await app.training.quote(user, ds.id, options)


def quote_text(ds: Dataset, q: TrainingQuote, words: Words) -> str:
    """The price before the confirm button; short of points, what to do instead (and no
    button)."""
    text = (f"🚀 Training {words.strong(ds.name)} ({plural(len(ds.images), 'image')}, "
            f"{q.params.get('steps')} steps) costs {words.strong(f'{q.points} points')}; "
            f"you have {q.available}.")
    if not q.fits:
        text += (f" That is not enough; nothing was charged. {words.command('/balance')} "
                 "shows how to get more.")
    return text


def delete_question(ds: Dataset) -> str:
    return f"Delete {ds.name} and its {plural(len(ds.images), 'image')}?"


async def delete(app: Services, user: Account, dataset_id: str) -> str:
    ds = await app.datasets.get(user.id, dataset_id)
    await app.datasets.delete(user.id, ds.id)
    return f"Dataset {ds.name} deleted."


# ----- 📁 under a result ---------------------------------------------------------------------

async def pickable(app: Services, user: Account, media_id: str) -> list[Dataset]:
    """The datasets to offer for an image of the user's (someone else's: not found)."""
    await app.media.get(media_id, owner_id=user.id)
    return await app.datasets.list_for(user.id)


def none_yet(words: Words) -> str:
    return (f"You have no dataset yet: {words.command('/train create')} makes one; then "
            "press again.")


async def add_output(app: Services, user: Account, media_id: str, dataset_id: str) -> str:
    """Add a result to a dataset, captioned with its prompt; what to say."""
    item = await app.media.get(media_id, owner_id=user.id)
    ds = await app.datasets.get(user.id, dataset_id)
    prompt = None
    if item.job_id is not None:
        try:
            job = await app.jobs.get_owned(item.job_id, user.id)
            prompt = " ".join(str(job.params.get("prompt") or "").split()) or None
        except NotFound:
            prompt = None
    await app.datasets.add_images(user.id, ds.id, [(await app.media.read(item), prompt)])
    r = app.datasets.readiness(await app.datasets.get(user.id, ds.id))
    return f"📁 Added to {ds.name} ({r.images}/{r.max_images} images) · {r.reason}"
