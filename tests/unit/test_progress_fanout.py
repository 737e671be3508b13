"""Progress as a signal: what a worker publishes, and what a web process accepts back."""

from __future__ import annotations

from stationthis.core.events import JobProgressed
from stationthis.core.progress_fanout import (
    PREVIEW_MAX,
    ProgressFanout,
    ProgressMessage,
    progress_from_signal,
)
from stationthis.core.signals import LocalSignals, job_channel


def _event(preview: bytes | None) -> JobProgressed:
    return JobProgressed(job_id="j1", owner_id="u1", state="running",
                         progress={"step": 2, "total": 4}, preview=preview)


async def test_progress_goes_out_on_the_jobs_channel_and_comes_back_whole() -> None:
    signals = LocalSignals()
    async with signals.subscribe(job_channel("j1")) as sub:
        await ProgressFanout(signals).on_progress(_event(b"\x89PNG small"))
        message = await sub.get(1)
    assert message is not None and message[0] == "job:j1"
    assert "owner_id" not in message[1]  # only what a stream shows
    assert progress_from_signal(message[1]) == ProgressMessage(
        "running", {"step": 2, "total": 4}, b"\x89PNG small")


async def test_a_big_preview_stays_off_the_signal() -> None:
    signals = LocalSignals()
    async with signals.subscribe(job_channel("j1")) as sub:
        await ProgressFanout(signals).on_progress(_event(b"x" * (PREVIEW_MAX + 1)))
        message = await sub.get(1)
    assert message is not None and "preview_b64" not in message[1]
    assert progress_from_signal(message[1]) == ProgressMessage("running", {"step": 2, "total": 4})


def test_a_message_that_is_not_progress_is_ignored() -> None:
    assert progress_from_signal({}) is None
    assert progress_from_signal({"state": 1, "progress": {}}) is None
    assert progress_from_signal({"state": "running", "progress": "50%"}) is None
    bad_preview = {"state": "running", "progress": {}, "preview_b64": "not base64!"}
    assert progress_from_signal(bad_preview) == ProgressMessage("running", {})
