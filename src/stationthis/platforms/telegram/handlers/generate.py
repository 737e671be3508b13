"""Generation: /make (and a plain prompt with the trigger in groups), /effect and /img2img on
a photo, /upscale and /rmbg, and the buttons under every result."""

from __future__ import annotations

from telegram import Message, Update

from ....core.errors import InvalidInput
from ....core.users import Account
from ....workflows.make_image import Request
from .common import Ctx, answer, group_of, guarded, station, submit, user_of
from .images import media_from

VARIATION_STRENGTH = 0.5


def rest_of(message: Message | None) -> str:
    """What follows the command word in a message's text or caption."""
    text = (message.text or message.caption or "") if message else ""
    parts = text.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


async def make_prompt(update: Update, context: Ctx, prompt: str) -> None:
    if not prompt:
        await answer(update, "What should I make? /make a red fox in the snow")
        return
    app = station(context).app
    user, group = await user_of(update, context), await group_of(update, context)
    tool = await app.make_image.default_tool(user, group)
    request = Request(tool, {"prompt": prompt})
    await submit(
        update, context, user, group,
        lambda payer: app.make_image.quote(user, request, payer, group=group),
        lambda payer, reply: app.make_image.make(user, request, payer=payer, reply=reply,
                                                 group=group),
    )


@guarded
async def make(update: Update, context: Ctx) -> None:
    await make_prompt(update, context, rest_of(update.effective_message))


@guarded
async def triggered(update: Update, context: Ctx) -> None:
    """A plain message in a group that starts with the trigger (e.g. ``@bot a red fox``)."""
    trigger = station(context).trigger
    message = update.effective_message
    if not trigger or message is None or not message.text:
        return
    if message.text.lower().startswith(trigger.lower()):
        await make_prompt(update, context, message.text[len(trigger):].strip(" ,:"))


def _target(update: Update) -> Message | None:
    """The image a command acts on: the replied-to message, or the message itself (a photo
    captioned with the command)."""
    message = update.effective_message
    if message is None:
        return None
    if message.photo or message.document or message.sticker:
        return message
    return message.reply_to_message


@guarded
async def effect(update: Update, context: Ctx) -> None:
    prompt = rest_of(update.effective_message)
    if not prompt:
        raise InvalidInput("Say what to do with it: /effect watercolor painting "
                           "(as a reply to a photo).")
    await _image_tool(update, context, "vary", prompt)


@guarded
async def upscale(update: Update, context: Ctx) -> None:
    await _image_tool(update, context, "upscale", None)


@guarded
async def rmbg(update: Update, context: Ctx) -> None:
    await _image_tool(update, context, "rmbg", None)


async def _image_tool(update: Update, context: Ctx, what: str, prompt: str | None) -> None:
    user, group = await user_of(update, context), await group_of(update, context)
    word = {"vary": "/effect", "upscale": "/upscale", "rmbg": "/rmbg"}[what]
    media_id = await media_from(_target(update), user, context, what=word)
    await run_on_media(update, context, what, media_id, prompt, user, group)


async def run_on_media(update: Update, context: Ctx, what: str, media_id: str,
                       prompt: str | None, user: Account, group: Account | None) -> None:
    again = station(context).app.again
    if what == "upscale":
        await submit(update, context, user, group,
                     lambda p: again.quote_upscale(user, media_id, 2, payer=p, group=group),
                     lambda p, r: again.upscale(user, media_id, 2, payer=p, reply=r, group=group))
    elif what == "rmbg":
        await submit(update, context, user, group,
                     lambda p: again.quote_remove_background(user, media_id, payer=p,
                                                             group=group),
                     lambda p, r: again.remove_background(user, media_id, payer=p, reply=r,
                                                          group=group))
    else:
        s = VARIATION_STRENGTH
        await submit(update, context, user, group,
                     lambda p: again.quote_vary(user, media_id, s, prompt=prompt, payer=p,
                                                group=group),
                     lambda p, r: again.vary(user, media_id, s, prompt=prompt, payer=p,
                                             reply=r, group=group))


async def regenerate(update: Update, context: Ctx, job_id: str) -> None:
    again = station(context).app.again
    user, group = await user_of(update, context), await group_of(update, context)
    await submit(update, context, user, group,
                 lambda p: again.quote_regenerate(user, job_id, payer=p, group=group),
                 lambda p, r: again.regenerate(user, job_id, payer=p, reply=r, group=group))
