"""/help, /balance, /history, /status (with cancel buttons), /cancel, /link and /models."""

from __future__ import annotations

from stationthis.platforms.chat import account as chat_account
from stationthis.platforms.discord import render
from stationthis.platforms.discord.handlers.common import Interaction


async def help_(ix: Interaction) -> None:
    await ix.user()
    await ix.say(render.help_text())


async def balance(ix: Interaction) -> None:
    app = ix.app
    user, group = await ix.user(), await ix.group()
    view = await app.account.balance(user)
    typical = await chat_account.typical(app, user, group)
    pool = await app.groups.view(group) if group is not None else None
    await ix.say(render.balance_text(view, typical, pool))


async def history(ix: Interaction) -> None:
    user = await ix.user()
    await ix.say(render.history_text(await ix.app.history.recent(user, 10)))


async def status(ix: Interaction) -> None:
    active = await ix.app.status.active(await ix.user())
    await ix.say(render.status_text(active), components=render.status_components(active))


async def cancel(ix: Interaction) -> None:
    await ix.say(await chat_account.cancel(
        ix.app, await ix.user(), str(ix.options().get("which") or ""),
        "Which one? `/cancel which:1`…`{n}` or `which:all` (see `/status`)."))


async def cancel_button(ix: Interaction, job_id: str) -> None:
    user = await ix.user()
    note = await chat_account.cancel_one(ix.app, user, job_id)
    active = await ix.app.status.active(user)
    await ix.say(f"{note}\n\n{render.status_text(active)}",
                 components=render.status_components(active))


async def link(ix: Interaction) -> None:
    await ix.say(await chat_account.link(
        ix.app, await ix.user(), str(ix.options().get("code") or ""), "`{}`",
        "/link CODE in Telegram or on the web"))


async def models(ix: Interaction) -> None:
    user = await ix.user()
    await ix.say(render.models_text(await ix.app.training.my_models(user)))
