"""The flows both chat platforms share: start an image job behind a status message (who
pays decided once, by ``make_image.offer``), an image button, and whose a button's object
is. Each talks to the platform only through its ``ChatTurn``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from stationthis.core.errors import NotFound, StationError
from stationthis.core.jobs import Job
from stationthis.core.replies import Reply
from stationthis.core.users import Account
from stationthis.platforms.chat.actions import action_of
from stationthis.platforms.chat.limits import START
from stationthis.platforms.chat.texts import error_text, queued_text, short_of_points
from stationthis.platforms.chat.turn import ChatTurn
from stationthis.workflows.commands import Command, Requester
from stationthis.workflows.make_image import Quote
from stationthis.workflows.services import Services

log = logging.getLogger(__name__)
STALE = "This button is out of date."
NOT_YOURS = "These buttons belong to whoever made the image — make your own with /make."
SORRY = "Something went wrong on our side; nothing was charged."


async def submit(turn: ChatTurn, app: Services, build: Callable[[Requester], Command]
                 ) -> Job | None:
    """Offer the command (priced for whoever pays), post the status message, start the job
    with that message as its reply address, then note its place in the queue. Refused
    (nothing priced) while the speaker starts jobs faster than ``limits`` allow."""
    if not await turn.allowed(START):
        return None
    requester = Requester(await turn.user(), await turn.group())
    offer = await app.make_image.offer(build(requester))
    if not offer.fits:
        await turn.fail(short_of_points(offer.quote, turn.words.command("/balance")))
        return None
    paid_by = turn.words.group if offer.paid_by_group else None
    address = await turn.status(queued_text(offer.quote, paid_by))
    try:
        job = await app.make_image.start(offer, reply=address)
    except StationError as exc:
        await turn.fail(error_text(exc, turn.words.command("/cancel")))
        return None
    await _queue_note(turn, app, requester.user, job, address,
                      lambda at, eta: queued_text(offer.quote, paid_by, at, eta))
    return job


async def train(turn: ChatTurn, app: Services, dataset_id: str,
                options: dict[str, Any] | None = None) -> Job | None:
    """A training of one of the user's datasets, behind a status message like an image."""
    if not await turn.allowed(START):
        return None
    user = await turn.user()
    priced = await app.training.quote(user, dataset_id, options)
    if not priced.fits:
        await turn.fail(short_of_points(priced, turn.words.command("/balance")))
        return None
    quote = Quote("train", priced.params, priced.points, priced.available)
    address = await turn.status(queued_text(quote))
    try:
        job = await app.training.submit(user, dataset_id, options, reply=address)
    except StationError as exc:
        await turn.fail(error_text(exc, turn.words.command("/cancel")))
        return None
    await _queue_note(turn, app, user, job, address,
                      lambda at, eta: queued_text(quote, None, at, eta))
    return job


async def _queue_note(turn: ChatTurn, app: Services, user: Account, job: Job,
                      address: Reply,
                      text: Callable[[int, float | None], str]) -> None:
    """The job's place in the queue on its status message, when it has to wait."""
    mine = next((a for a in await app.status.active(user) if a.job_id == job.id), None)
    if mine is not None and mine.position is not None:
        await turn.queued(address, text(mine.position, mine.eta_seconds))


async def image_action(turn: ChatTurn, app: Services, code: str, object_id: str) -> Job | None:
    """An image button (🔄 ⬆️ 🎲 🔍): its command, submitted like any request."""
    action = action_of(code)
    if action is None or action.command is None:
        raise NotFound("unknown button")
    command = action.command
    return await submit(turn, app, lambda who: command(who, object_id))


def is_image_action(code: str) -> bool:
    action = action_of(code)
    return action is not None and action.command is not None


async def object_exists(app: Services, kind: str, object_id: str) -> bool:
    """Whether a button's job or image exists at all: when the presser cannot see it, it is
    someone else's (not a stale button)."""
    try:
        if kind == "job":
            await app.jobs.get(object_id)
        elif kind == "media":
            await app.media.get(object_id)
        else:
            return False
    except NotFound:
        return False
    return True


async def why_not(app: Services, code: str, object_id: str) -> str:
    """What to tell someone whose button's object they cannot see."""
    action = action_of(code)
    theirs = action is not None and await object_exists(app, action.target, object_id)
    return NOT_YOURS if theirs else STALE


async def button_refusal(app: Services, user: Account, code: str, parts: list[str]) -> str | None:
    """Why ``user`` cannot use this button (someone else's object, or gone), or None — a
    quick read before anything is answered or started."""
    action = action_of(code)
    if action is None:
        return None
    if not parts:
        return STALE
    try:
        if action.target == "job":
            await app.jobs.get_owned(parts[0], user.id)
        else:
            await app.media.get(parts[0], owner_id=user.id)
    except StationError:
        return await why_not(app, code, parts[0])
    return None
