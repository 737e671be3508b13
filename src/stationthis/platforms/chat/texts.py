"""Text that the chat platforms (Telegram, Discord) word alike: job progress and results,
ETA maths, job lists, the queue note, refusals. Pure functions over workflow results, no
platform imports;
markup (Markdown, embeds, keyboards) stays in each platform's ``render``, which re-exports
what it uses from here. Where the wording names a command, the platform passes its spelling
(``/cancel`` on Telegram, in backticks on Discord)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from stationthis.core.datasets import Dataset, Readiness
from stationthis.core.errors import InsufficientPoints, StationError, TooManyJobs
from stationthis.core.jobs import Job
from stationthis.core.models import Model
from stationthis.core.notify import JobNotice
from stationthis.platforms.chat.turn import Words
from stationthis.workflows.history import HistoryEntry, ReproCard
from stationthis.workflows.make_image import Quote
from stationthis.workflows.status import ActiveJob
from stationthis.workflows.training import TrainingQuote

# ----- time -------------------------------------------------------------------------------


def eta_seconds(progress: dict[str, Any]) -> float | None:
    """Seconds left, from a job's progress (``percent`` done after ``elapsed`` seconds)."""
    percent, elapsed = progress.get("percent"), progress.get("elapsed")
    if not percent or elapsed is None or float(percent) <= 0:
        return None
    return max(0.0, float(elapsed) * (100 - float(percent)) / float(percent))


def fmt_seconds(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, rest = divmod(seconds, 60)
    return f"{minutes}m {rest:02d}s" if minutes < 60 else f"{minutes // 60}h {minutes % 60:02d}m"


def fmt_delta(delta: timedelta) -> str:
    return fmt_seconds(delta.total_seconds())


def fmt_number(value: float | None) -> str:
    """A limit as people write it: ``50``, not ``50.0``; ``—`` for none."""
    if value is None:
        return "—"
    return str(int(value)) if float(value).is_integer() else str(value)


# ----- jobs -------------------------------------------------------------------------------

def progress_text(notice: JobNotice, position: int | None = None) -> str:
    if notice.state == "queued":
        where = f" · #{position} in the queue" if position else ""
        return f"⏳ {notice.tool}: waiting in the queue{where}…"
    if notice.state == "uploading":
        return f"📤 {notice.tool}: saving the result…"
    percent = notice.progress.get("percent")
    parts = [f"🎨 {notice.tool}: working"]
    if percent is not None:
        parts.append(f"{int(percent)}%")
        eta = eta_seconds(notice.progress)
        if eta is not None:
            parts.append(f"about {fmt_seconds(eta)} left")
    return " · ".join(parts) + "…"


def queued_text(quote: Quote, paid_by: str | None = None, position: int | None = None,
                eta: float | None = None) -> str:
    """The status message of a job just started: its price, who pays when it is not the
    requester (``paid_by``: "the group", "the server"), and its place in the queue."""
    who = f" (paid by {paid_by})" if paid_by else ""
    where = f"#{position} in the queue" if position else "waiting in the queue"
    when = f" · about {fmt_seconds(eta)}" if eta else ""
    return f"⏳ {quote.tool}: {quote.points} points held{who} · {where}{when}…"


def result_text(notice: JobNotice, count: int) -> str:
    images = f"{count} images" if count > 1 else "done"
    cost = f" · {notice.cost} points" if notice.cost is not None else ""
    return f"✅ {notice.tool}: {images}{cost}"


def failed_text(notice: JobNotice) -> str:
    released = notice.released or 0
    back = (f"{released} points were released — nothing was charged." if released
            else "Nothing was charged.")
    if notice.state == "cancelled":
        return f"✖️ {notice.tool}: cancelled. {back}"
    return f"❌ {notice.tool} failed: {notice.error or 'unknown error'}\n{back}"


def cancelled_text(count: int, released: int, stopping: int) -> str:
    text = f"Cancelled {count} job{'s' if count != 1 else ''}; {released} points released."
    if stopping:
        text += f" {stopping} running job(s) are stopping; their points come back then."
    return text


def seed_text(job: Job, seeds: Sequence[int], *, one: bool = False) -> str:
    """/seed: the seed of one image, or of each image of a job."""
    prompt = str(job.params.get("prompt") or "")
    what = f"{job.tool} {prompt[:40]!r}" if prompt else job.tool
    if one or len(seeds) == 1:
        head = f"🎲 Seed {seeds[0]}" + ("" if one else f" · {what}")
    else:
        head = f"🎲 Seeds of {what}: " + " · ".join(
            f"{n}. {s}" for n, s in enumerate(seeds, start=1))
    return f"{head}\nThe same prompt, settings and seed make the same image again."


def card_text(card: ReproCard, images: int, state: str) -> str:
    """/card: the reproducibility card of one image (or of a job without one yet)."""
    if card.media_id is None:
        note = f"(the job {state}: no image yet)"
    elif images > 1:
        note = f"(image {card.output_index + 1} of {images}; reply to another for its card)"
    else:
        note = ""
    return "\n".join(line for line in (card.to_text(), note) if line)


def history_line(entry: HistoryEntry) -> str:
    prompt = str(entry.params.get("prompt") or "")[:40]
    cost = f"{entry.cost} pts" if entry.cost is not None else entry.state
    seed = f" · seed {entry.seed}" if entry.seed is not None else ""
    return f"• {entry.created_at:%m-%d %H:%M} {entry.tool} {prompt!r} · {cost}{seed}"


def history_text(entries: Sequence[HistoryEntry], try_make: str) -> str:
    """/history: the last jobs, or how to make a first one (``try_make``)."""
    if not entries:
        return f"No jobs yet. Try {try_make}"
    return "\n".join(["Your last jobs:", *(history_line(e) for e in entries)])


def status_text(active: Sequence[ActiveJob], nothing: str, footer: str | None = None) -> str:
    """/status: the running and queued jobs, or ``nothing``; ``footer`` says how to cancel."""
    if not active:
        return nothing
    lines = ["Your jobs:", *(status_line(n, job) for n, job in enumerate(active, start=1))]
    return "\n".join([*lines, footer] if footer else lines)


def models_text(models: Sequence[Model], train: str, name: str = "{}", word: str = "{}"
                ) -> str:
    """/models: the user's trained models with their trigger words (``name`` and ``word``
    format them in the platform's markup)."""
    if not models:
        return f"No models yet. Train one with {train}."
    lines = ["Your models (use the trigger word in a prompt):"]
    lines += [f"• {name.format(m.name)}: trigger {word.format(m.trigger)} · {m.kind} · "
              f"{m.base_model}" for m in models]
    return "\n".join(lines)


def model_ready_text(model: Model | None, notice: JobNotice, words: Words) -> str:
    """A training's result: the model and how to use it (``words.quote`` marks commands,
    ``words.make`` is the make command with a prompt to follow)."""
    cost = f" ({notice.cost} points)" if notice.cost is not None else ""
    if model is None:
        return f"✅ Training finished{cost}. See {words.command('/models')}."
    return (f"✅ Model {words.strong(model.name)} is ready{cost}. Use its trigger word in a "
            f"prompt:\n{words.command(f'{words.make}{model.trigger} in a garden')}")


def dataset_lines(ds: Dataset, r: Readiness) -> list[str]:
    """Whether a dataset is ready, its warnings and each image's caption."""
    lines = [f"{'✅' if r.ready else '⏳'} {r.reason}", *(f"⚠️ {w}" for w in r.warnings)]
    lines += [f"{n}. {image.caption or '(no caption)'}"
              for n, image in enumerate(ds.images, start=1)]
    return lines


def status_line(number: int, job: ActiveJob) -> str:
    where = f"#{job.position} in the queue" if job.position else f"{job.percent}%"
    eta = f" · about {fmt_seconds(job.eta_seconds)} left" if job.eta_seconds else ""
    return f"{number}. {job.tool} · {job.state} · {where}{eta} · {job.quote} points"


# ----- reference images -------------------------------------------------------------------

REFERENCE_KINDS = {"canny": "its edges", "pose": "the pose of its people",
                   "depth": "its near and far", "style": "its look (colours, texture)"}


def reference_help(how: str, example: str, kinds: Sequence[str]) -> str:
    """How /ref works: ``how`` says how the platform takes the image, ``example`` is a
    command to copy, ``kinds`` are the reference kinds this server offers (canny first)."""
    if not kinds:
        return "This server has no reference tools."
    told = "; ".join(f"{k}: {REFERENCE_KINDS.get(k, 'its ' + k)}" for k in kinds)
    return (f"To draw something new that follows a reference image, {how}, e.g. {example}. "
            f"Kinds ({kinds[0]} unless you name one): {told}.")


# ----- refusals ---------------------------------------------------------------------------

def alternative_lines(alternatives: Sequence[Any]) -> list[str]:
    """What would fit instead (a quote's or an ``InsufficientPoints``' alternatives)."""
    return [f"• {a.description}: {a.points} points" for a in alternatives]


def short_of_points(quote: Quote | TrainingQuote, balance: str = "/balance") -> str:
    short = quote.points - quote.available
    lines = [f"That costs {quote.points} points; {quote.available} are available "
             f"({short} short)."]
    alternatives = getattr(quote, "alternatives", [])
    if alternatives:
        lines.append("These would fit:")
        lines += alternative_lines(alternatives)
    lines.append(f"Nothing was charged. See {balance} for when the allowance refills.")
    return "\n".join(lines)


def error_text(exc: StationError, cancel: str = "/cancel") -> str:
    """A workflow refusal as a short answer."""
    if isinstance(exc, InsufficientPoints):
        lines = [exc.message, *alternative_lines(exc.details.get("alternatives") or [])]
        return "\n".join([*lines, "Nothing was charged."])
    if isinstance(exc, TooManyJobs):
        return f"{exc.message} Wait for one to finish, or {cancel} one."
    return exc.message[:1].upper() + exc.message[1:]
