"""/regen, /seed and /card in chat, as the CLI's ``regen``, ``seed`` and ``card``: they act
on the user's last image job, the N-th last (``/seed 2``, as /history lists them), or the
result a message points at (Telegram: the replied-to result). Only the speaker's own jobs
and images can be reached: someone else's result is refused as theirs, and nothing of it
is shown. ``/regen`` goes through ``flows.submit``: priced once, for whoever pays."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from stationthis.core.errors import InvalidInput, NotFound
from stationthis.core.jobs import Job
from stationthis.core.users import Account
from stationthis.platforms.chat.actions import code_of
from stationthis.platforms.chat.flows import object_exists, submit
from stationthis.platforms.chat.texts import card_text, seed_text
from stationthis.platforms.chat.turn import ChatTurn
from stationthis.workflows.commands import Regenerate
from stationthis.workflows.history import ReproCard
from stationthis.workflows.services import Services
from stationthis.workflows.training import TRAIN_CATEGORY

SCAN = 50  # how far back /history numbers reach


@dataclass(frozen=True)
class Target:
    """What a command points at: one result (``media_id``), a job (``job_id``), or else the
    ``number``-th last image job of the user (1: the last)."""

    job_id: str | None = None
    media_id: str | None = None
    number: int = 1


def target_of_buttons(buttons: Iterable[tuple[str, list[str]]]) -> Target | None:
    """The result a message's buttons (action code, ids) belong to: one image (its ⬆️
    button's image), or a batch (its 🔄 job); None when they are not a result's."""
    job_id, media = None, []
    for code, parts in buttons:
        action = code_of(code)
        if action == "r" and parts:
            job_id = job_id or parts[0]
        elif action == "u" and parts and parts[0] not in media:
            media.append(parts[0])
    if len(media) == 1:
        return Target(media_id=media[0])
    return Target(job_id=job_id) if job_id is not None else None


def number_of(text: str, usage: str) -> int:
    """``/seed 2``: the number after the command (1 when none)."""
    text = text.strip()
    if not text:
        return 1
    if not text.isdigit() or not 1 <= int(text) <= SCAN:
        raise InvalidInput(usage)
    return int(text)


async def find(app: Services, user: Account, target: Target, command: str, make: str
               ) -> tuple[Job, str | None]:
    """The job (and the one image, when the target is one) ``command`` acts on."""
    if target.media_id is not None:
        try:
            item = await app.media.get(target.media_id, owner_id=user.id)
        except NotFound:
            raise await _unreachable(app, "media", target.media_id, command) from None
        if item.job_id is None:
            raise InvalidInput(f"That image was uploaded, not made here: {command} works on "
                               "results.")
        return await _owned(app, user, item.job_id, command), item.id
    if target.job_id is not None:
        return await _owned(app, user, target.job_id, command), None
    recent = [j for j in await app.jobs.recent(user.id, limit=SCAN)
              if j.category != TRAIN_CATEGORY]
    if not recent:
        raise InvalidInput(f"You have no images yet, so nothing for {command}. Make one "
                           f"first: {make}")
    if target.number > len(recent):
        raise InvalidInput(f"You have {len(recent)} image job{'s' if len(recent) > 1 else ''}"
                           f" so far: {command} 1…{len(recent)} (1 is the last).")
    return recent[target.number - 1], None


async def regen(turn: ChatTurn, app: Services, target: Target) -> Job | None:
    """The job again with a new seed, offered and started like any request."""
    job, _ = await find(app, await turn.user(), target, turn.words.command("/regen"),
                        turn.words.command(f"{turn.words.make}a red fox"))
    return await submit(turn, app, lambda who: Regenerate(who, job.id))


async def seed(app: Services, user: Account, target: Target, words_command: str, make: str
               ) -> str:
    """The seed of the job (each image's, for a batch) or of one image."""
    job, media_id = await find(app, user, target, words_command, make)
    if "seed" not in job.params:
        return f"{job.tool} has no seed: it gives the same result every time."
    wanted = [media_id] if media_id is not None else list(job.outputs)
    seeds = [await app.history.get_seed(user, m) for m in wanted]
    return seed_text(job, seeds or [int(job.params["seed"])], one=media_id is not None)


async def card(app: Services, user: Account, target: Target, words_command: str, make: str
               ) -> str:
    """The reproducibility card of one image (the first of a job)."""
    job, media_id = await find(app, user, target, words_command, make)
    media_id = media_id or (job.outputs[0] if job.outputs else None)
    if media_id is not None:
        recipe = await app.history.card(user, media_id)
    else:  # no image (failed, or still running): the job's own recipe
        recipe = ReproCard(tool=job.tool, tool_version=job.tool_version, engine=job.engine,
                           params=dict(job.params), inputs=dict(job.inputs), job_id=job.id)
    return card_text(recipe, len(job.outputs), job.state)


async def _owned(app: Services, user: Account, job_id: str, command: str) -> Job:
    try:
        return await app.jobs.get_owned(job_id, user.id)
    except NotFound:
        raise await _unreachable(app, "job", job_id, command) from None


async def _unreachable(app: Services, kind: str, object_id: str, command: str) -> InvalidInput:
    if await object_exists(app, kind, object_id):
        return InvalidInput(f"That result is someone else's: {command} works on your own "
                            "images.")
    return InvalidInput(f"That result is gone: {command} alone works on your last job.")
