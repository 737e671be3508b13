"""The text the chat platforms share (stationthis.platforms.chat): ETA maths, job progress and
results, job lists and refusals, word for word."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from stationthis.core.errors import InsufficientPoints, InvalidInput, TooManyJobs
from stationthis.core.notify import JobNotice
from stationthis.platforms import chat
from stationthis.workflows.make_image import Alternative, Quote
from stationthis.workflows.status import ActiveJob
from stationthis.workflows.training import TrainingQuote


def notice(**fields: Any) -> JobNotice:
    values: dict[str, Any] = {"job_id": "j", "owner_id": "o", "tool": "make", "state": "running"}
    values.update(fields)
    return JobNotice(**values)


@pytest.mark.parametrize(("progress", "eta"), [
    ({"percent": 25, "elapsed": 3.0}, 9.0),
    ({"percent": 100, "elapsed": 3.0}, 0.0),
    ({"percent": 0, "elapsed": 3.0}, None),
    ({"percent": 50}, None),
    ({}, None),
])
def test_eta_from_progress(progress: dict[str, Any], eta: float | None) -> None:
    assert chat.eta_seconds(progress) == eta


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (59.4, "59s"), (60, "1m 00s"), (125, "2m 05s"), (3599, "59m 59s"),
    (3600, "1h 00m"), (7380, "2h 03m"),
])
def test_fmt_seconds(seconds: float, text: str) -> None:
    assert chat.fmt_seconds(seconds) == text
    assert chat.fmt_delta(timedelta(seconds=seconds)) == text


def test_fmt_number() -> None:
    assert [chat.fmt_number(v) for v in (50.0, 7.5, None)] == ["50", "7.5", "—"]


def test_progress_text() -> None:
    assert chat.progress_text(notice(progress={"percent": 25, "elapsed": 3.0})) == \
        "🎨 make: working · 25% · about 9s left…"
    assert chat.progress_text(notice(progress={"percent": 40})) == "🎨 make: working · 40%…"
    assert chat.progress_text(notice()) == "🎨 make: working…"
    assert chat.progress_text(notice(state="queued")) == "⏳ make: waiting in the queue…"
    assert chat.progress_text(notice(state="queued"), position=2) == \
        "⏳ make: waiting in the queue · #2 in the queue…"
    assert chat.progress_text(notice(state="uploading")) == "📤 make: saving the result…"


def test_result_and_failure_texts() -> None:
    assert chat.result_text(notice(state="succeeded", cost=12), 3) == \
        "✅ make: 3 images · 12 points"
    assert chat.result_text(notice(state="succeeded"), 1) == "✅ make: done"
    assert chat.failed_text(notice(state="failed", error="engine died", released=15)) == \
        "❌ make failed: engine died\n15 points were released — nothing was charged."
    assert chat.failed_text(notice(state="failed")) == \
        "❌ make failed: unknown error\nNothing was charged."
    assert chat.failed_text(notice(state="cancelled", released=5)) == \
        "✖️ make: cancelled. 5 points were released — nothing was charged."


def test_cancelled_text() -> None:
    assert chat.cancelled_text(1, 10, 0) == "Cancelled 1 job; 10 points released."
    assert chat.cancelled_text(2, 0, 1) == ("Cancelled 2 jobs; 0 points released. 1 running "
                                            "job(s) are stopping; their points come back then.")


def test_history_and_status_lines() -> None:
    entry: Any = SimpleNamespace(params={"prompt": "a red fox " * 10}, cost=None, state="failed",
                            seed=42, created_at=datetime(2026, 3, 4, 5, 6), tool="make")
    assert chat.history_line(entry) == \
        f"• 03-04 05:06 make {'a red fox ' * 4!r} · failed · seed 42"
    entry.cost, entry.seed, entry.params = 8, None, {}
    assert chat.history_line(entry) == "• 03-04 05:06 make '' · 8 pts"
    now = datetime(2026, 1, 1)
    queued = ActiveJob("j1", "make", "queued", 3, 0, 95.0, 8, now, None, False)
    running = ActiveJob("j2", "make", "running", None, 40, None, 8, now, now, False)
    assert chat.status_line(1, queued) == "1. make · queued · #3 in the queue · about 1m 35s " \
        "left · 8 points"
    assert chat.status_line(2, running) == "2. make · running · 40% · 8 points"


def test_short_of_points_with_and_without_alternatives() -> None:
    quote = Quote("make", {}, 30, 20, [Alternative("512×512", {}, 15)])
    assert chat.short_of_points(quote) == (
        "That costs 30 points; 20 are available (10 short).\nThese would fit:\n"
        "• 512×512: 15 points\n"
        "Nothing was charged. See /balance for when the allowance refills.")
    training = TrainingQuote("d", {}, 500, 20)
    assert chat.short_of_points(training, balance="`/balance`") == (
        "That costs 500 points; 20 are available (480 short).\n"
        "Nothing was charged. See `/balance` for when the allowance refills.")


def test_error_text() -> None:
    short = InsufficientPoints("that costs 30 points", alternatives=[Alternative("a", {}, 5)])
    assert chat.error_text(short) == "that costs 30 points\n• a: 5 points\nNothing was charged."
    busy = TooManyJobs("You have 3 jobs running.")
    assert chat.error_text(busy) == "You have 3 jobs running. Wait for one to finish, or " \
        "/cancel one."
    assert chat.error_text(busy, cancel="`/cancel`").endswith("or `/cancel` one.")
    assert chat.error_text(InvalidInput("no such size")) == "No such size"
