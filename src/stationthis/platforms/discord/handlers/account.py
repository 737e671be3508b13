"""/help, /balance, /history, /status (with cancel buttons), /cancel, /link and /models."""

from __future__ import annotations

from ....core.errors import InvalidInput, StationError
from ....workflows.make_image import Request
from ...chat import cancelled_text
from .. import render
from .common import Interaction


async def help_(ix: Interaction) -> None:
    await ix.user()
    await ix.say(render.help_text())


async def balance(ix: Interaction) -> None:
    app = ix.app
    user, group = await ix.user(), await ix.group()
    view = await app.account.balance(user)
    try:
        tool = await app.make_image.default_tool(user, group)
        typical = await app.make_image.quote(user, Request(tool, {"prompt": "a typical image"}),
                                             group=group)
    except StationError:
        typical = None
    pool = await app.groups.view(group) if group is not None else None
    await ix.say(render.balance_text(view, typical, pool))


async def history(ix: Interaction) -> None:
    user = await ix.user()
    await ix.say(render.history_text(await ix.app.history.recent(user, 10)))


async def status(ix: Interaction) -> None:
    active = await ix.app.status.active(await ix.user())
    await ix.say(render.status_text(active), components=render.status_components(active))


async def cancel(ix: Interaction) -> None:
    app = ix.app
    user = await ix.user()
    which = str(ix.options().get("which") or "").strip().lower()
    active = await app.status.active(user)
    if not active:
        await ix.say("Nothing to cancel.")
        return
    if which == "all" or (not which and len(active) == 1):
        done = await app.status.cancel_all(user)
    elif which.isdigit() and 1 <= int(which) <= len(active):
        done = [await app.status.cancel(user, active[int(which) - 1].job_id)]
    else:
        raise InvalidInput(f"Which one? `/cancel which:1`…`{len(active)}` or `which:all` "
                           "(see `/status`).")
    await ix.say(cancelled_text(len(done), sum(d.released for d in done),
                                sum(1 for d in done if not d.done)))


async def cancel_button(ix: Interaction, job_id: str) -> None:
    user = await ix.user()
    done = await ix.app.status.cancel(user, job_id)
    active = await ix.app.status.active(user)
    note = (f"Cancelled; {done.released} points released." if done.done
            else "Stopping it; the points come back when it has stopped.")
    await ix.say(f"{note}\n\n{render.status_text(active)}",
                 components=render.status_components(active))


async def link(ix: Interaction) -> None:
    app = ix.app
    user = await ix.user()
    code = str(ix.options().get("code") or "").strip()
    if code:
        merged = await app.account.link(user, code)
        names = ", ".join(str(i) for i in await app.account.identities(merged))
        await ix.say(f"Linked. This account is now also: {names}")
        return
    fresh = await app.account.link_code(user)
    await ix.say(f"Your link code: `{fresh}`\nEnter it on the other platform within 15 "
                 "minutes (e.g. /link CODE in Telegram or on the web) to join the accounts.")


async def models(ix: Interaction) -> None:
    user = await ix.user()
    await ix.say(render.models_text(await ix.app.training.my_models(user)))
