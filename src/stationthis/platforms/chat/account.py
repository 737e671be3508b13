"""Account and settings flows both chat platforms share: the typical price on /balance,
cancelling from a command or a button, linking accounts, changing a setting. They return
plain text or workflow views; each platform renders and sends them."""

from __future__ import annotations

from stationthis.core.errors import InvalidInput, StationError
from stationthis.core.users import Account
from stationthis.platforms.chat.texts import cancelled_text
from stationthis.workflows.make_image import Quote, Request
from stationthis.workflows.services import Services


async def typical(app: Services, user: Account, group: Account | None) -> Quote | None:
    """The price of a typical image with the user's defaults (None when it cannot be had)."""
    try:
        tool = await app.make_image.default_tool(user, group)
        return await app.make_image.quote(user, Request(tool, {"prompt": "a typical image"}),
                                          group=group)
    except StationError:
        return None


async def cancel(app: Services, user: Account, which: str, usage: str) -> str:
    """``/cancel`` with ``which``: empty (the only job), ``all`` or a number in /status."""
    which = which.strip().lower()
    active = await app.status.active(user)
    if not active:
        return "Nothing to cancel."
    if which == "all" or (not which and len(active) == 1):
        done = await app.status.cancel_all(user)
    elif which.isdigit() and 1 <= int(which) <= len(active):
        done = [await app.status.cancel(user, active[int(which) - 1].job_id)]
    else:
        raise InvalidInput(usage.format(n=len(active)))
    return cancelled_text(len(done), sum(d.released for d in done),
                          sum(1 for d in done if not d.done))


async def cancel_one(app: Services, user: Account, job_id: str) -> str:
    """The ✖️ button of one job."""
    done = await app.status.cancel(user, job_id)
    return (f"Cancelled; {done.released} points released." if done.done
            else "Stopping it; the points come back when it has stopped.")


async def link(app: Services, user: Account, code: str, shown: str, elsewhere: str) -> str:
    """``/link CODE`` joins the accounts; ``/link`` alone shows a code (``shown`` formats
    it) to enter ``elsewhere``."""
    code = code.strip()
    if code:
        merged = await app.account.link(user, code)
        names = ", ".join(str(i) for i in await app.account.identities(merged))
        return f"Linked. This account is now also: {names}"
    fresh = await app.account.link_code(user)
    return (f"Your link code: {shown.format(fresh)}\nEnter it on the other platform within 15 "
            f"minutes (e.g. {elsewhere}) to join the accounts.")


async def change(app: Services, user: Account, group: Account | None, key: str, value: str) -> None:
    """One setting of the user's (``group`` None) or of the group's (the caller checked that
    the user may change it): ``payer`` is who pays, ``reset`` goes back to the defaults."""
    if group is None:
        if key == "reset":
            await app.user_settings.reset(user, value or None)
        else:
            await app.user_settings.set(user, key, value)
    elif key == "payer":
        await app.groups.set_payer_policy(user, group, value)
    elif key == "reset":
        await app.user_settings.reset_group(user, group, value or None)
    else:
        await app.user_settings.set_group(user, group, key, value)
