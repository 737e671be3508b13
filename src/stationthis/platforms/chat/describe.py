"""/describe as Telegram and Discord share it: an image → 3–4 prompts (workflows/describe.py),
shown when the job finishes, each with a ▶️ button that makes it.

The describe is a plain ``Make`` of the describe tool (priced, held, refunded when it fails,
like any tool). A ▶️ button carries only the describe job and the prompt's number (action
``dr`` in ``actions.py``); the prompt itself is read back from the job when it is pressed,
and only the job's owner can press it."""

from __future__ import annotations

from stationthis.core.errors import InvalidInput, NotFound
from stationthis.core.jobs import Job
from stationthis.core.notify import JobNotice
from stationthis.platforms.chat.flows import submit
from stationthis.platforms.chat.turn import ChatTurn
from stationthis.workflows import describe as describing
from stationthis.workflows.commands import Make, Requester
from stationthis.workflows.services import Services

RUN = "dr"  # the ▶️ action (actions.py)
IMAGE_INPUT = "image"
EMPTY = "I found nothing to say about this picture — try another one."


def describe_tool(app: Services) -> str:
    """The describe tool's name, or a clear refusal when none is installed."""
    return describing.describe_tool(app.tools)


def describe(who: Requester, tool: str, media_id: str) -> Make:
    """The command: the describe ``tool`` on ``media_id``."""
    return Make(who, {}, {IMAGE_INPUT: media_id}, tool)


def describe_help(how: str) -> str:
    """How /describe works (``how``: how the platform takes the image)."""
    return (f"To get prompts for a picture, {how}. I answer with 3–4 prompts for what it "
            "shows, each with a ▶️ button that makes it.")


async def finished_prompts(app: Services, notice: JobNotice) -> list[str] | None:
    """The prompts of a succeeded describe job, for its result message (None: the job is
    not a succeeded describe, so it is rendered as usual)."""
    if notice.state != "succeeded":
        return None
    try:
        job = await app.jobs.get(notice.job_id)
    except NotFound:
        return None
    if job.category != describing.CATEGORY:
        return None
    return await describing.prompts(app.media, job)


def prompts_text(notice: JobNotice, prompts: list[str], limit: int) -> str:
    """The result of a describe: its prompts, numbered, within ``limit`` characters (a long
    prompt is shortened here; ▶️ makes the whole of it)."""
    cost = f" · {notice.cost} points" if notice.cost is not None else ""
    if not prompts:
        return f"📝 {notice.tool}: done{cost}\n{EMPTY}"
    head = f"📝 {notice.tool}: {len(prompts)} prompts{cost}"
    foot = ("Tap ▶️ to make it." if len(prompts) == 1
            else "Tap ▶️ and a number to make that one.")
    spare = limit - len(head) - len(foot) - 16  # 16: blank lines, emoji width, to spare
    room = max(40, spare // len(prompts) - 6)  # "N. " and a blank line before each
    lines = [f"{n}. {_clip(p, room)}" for n, p in enumerate(prompts, start=1)]
    return "\n\n".join([head, *lines, foot])


def run_labels(count: int) -> list[tuple[str, str]]:
    """The ▶️ buttons under ``count`` prompts: (label, the prompt's index as sent)."""
    if count == 1:
        return [("▶️ Run this", "0")]
    return [(f"▶️ Run {n}", str(n - 1)) for n in range(1, count + 1)]


async def prompt_of(app: Services, turn: ChatTurn, job_id: str, index: str) -> str:
    """The prompt a ▶️ button names, read from the presser's own describe job. Someone
    else's job is not found (the caller says whose it is); a bad index is out of date."""
    user = await turn.user()
    job: Job = await app.jobs.get_owned(job_id, user.id)
    found = await describing.prompts(app.media, job)
    if not index.isdigit() or int(index) >= len(found):
        raise InvalidInput("This button is out of date.")
    return found[int(index)]


async def run_prompt(turn: ChatTurn, app: Services, job_id: str, index: str) -> Job | None:
    """▶️: a normal make of the chosen prompt, with the presser's defaults."""
    prompt = await prompt_of(app, turn, job_id, index)
    return await submit(turn, app, lambda who: Make(who, {"prompt": prompt}))


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"
