"""Text that the chat platforms (Telegram, Discord) word alike: job progress and results,
ETA maths, job lists, refusals — and whether a button's object exists at all. Pure
functions over workflow results (but ``object_exists``), no platform imports;
markup (Markdown, embeds, keyboards) stays in each platform's ``render``, which re-exports
what it uses from here. Where the wording names a command, the platform passes its spelling
(``/cancel`` on Telegram, in backticks on Discord)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from ..core.errors import InsufficientPoints, NotFound, StationError, TooManyJobs
from ..core.notify import JobNotice
from ..workflows.app import App
from ..workflows.history import HistoryEntry
from ..workflows.make_image import Quote
from ..workflows.status import ActiveJob
from ..workflows.training import TrainingQuote

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


def history_line(entry: HistoryEntry) -> str:
    prompt = str(entry.params.get("prompt") or "")[:40]
    cost = f"{entry.cost} pts" if entry.cost is not None else entry.state
    seed = f" · seed {entry.seed}" if entry.seed is not None else ""
    return f"• {entry.created_at:%m-%d %H:%M} {entry.tool} {prompt!r} · {cost}{seed}"


def status_line(number: int, job: ActiveJob) -> str:
    where = f"#{job.position} in the queue" if job.position else f"{job.percent}%"
    eta = f" · about {fmt_seconds(job.eta_seconds)} left" if job.eta_seconds else ""
    return f"{number}. {job.tool} · {job.state} · {where}{eta} · {job.quote} points"


# ----- refusals ---------------------------------------------------------------------------

def alternative_lines(alternatives: Sequence[Any]) -> list[str]:
    """What would fit instead (a quote's or an ``InsufficientPoints``' alternatives)."""
    return [f"• {a.description}: {a.points} points" for a in alternatives]


def short_of_points(quote: Quote | TrainingQuote, balance: str = "/balance") -> str:
    lines = [f"That costs {quote.points} points; {quote.available} are available."]
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


# ----- buttons ----------------------------------------------------------------------------


async def object_exists(app: App, kind: str, object_id: str) -> bool:
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
