"""The Telegram adapter's pure parts: callback data within 64 bytes, the rate limiter, and
the progress and result texts."""

from __future__ import annotations

import uuid

import pytest

from stationthis.core.notify import JobNotice
from stationthis.core.ratelimit import RateLimiter
from stationthis.platforms.telegram import render
from stationthis.platforms.telegram.callbacks import pack, unpack


def test_callback_data_carries_two_ids_within_64_bytes() -> None:
    media, dataset = uuid.uuid4().hex, uuid.uuid4().hex
    data = pack("da", media, dataset)
    assert len(data.encode()) <= 64
    assert unpack(data) == ("da", [media, dataset])
    assert unpack(pack("s", "size", "1024x768")) == ("s", ["size", "1024x768"])
    assert unpack("r:garbage!") == ("r", ["garbage!"])  # unknown, then simply not found
    with pytest.raises(ValueError, match="64 bytes"):
        pack("x", "a" * 70)


def test_rate_limiter_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(3, 0.5, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")  # per key
    assert limiter.first_refusal("a") and not limiter.first_refusal("a")
    assert limiter.retry_after("a") == pytest.approx(2.0)
    now[0] = 2.0
    assert limiter.allow("a") and not limiter.allow("a")
    assert limiter.first_refusal("a")  # a new run of refusals is told again


def notice(**fields: object) -> JobNotice:
    values: dict[str, object] = {"job_id": "j", "owner_id": "o", "tool": "make",
                                 "state": "running"}
    values.update(fields)
    return JobNotice(**values)  # type: ignore[arg-type]


def test_progress_text_shows_percent_and_eta() -> None:
    text = render.progress_text(notice(progress={"percent": 25, "elapsed": 3.0}))
    assert "25%" in text and "about 9s left" in text
    assert "queue" in render.progress_text(notice(state="queued"), position=2)
    assert "#2" in render.progress_text(notice(state="queued"), position=2)


def test_failure_text_says_the_points_were_released() -> None:
    text = render.failed_text(notice(state="failed", error="engine died", released=15))
    assert "engine died" in text and "15 points were released" in text
    assert "cancelled" in render.failed_text(notice(state="cancelled", released=5))


def test_result_keyboard_for_one_image_and_for_a_batch() -> None:
    job, media = uuid.uuid4().hex, [uuid.uuid4().hex for _ in range(10)]
    single = render.result_keyboard(job, media[:1]).inline_keyboard
    assert [b.text for b in single[0]] == ["🔄 Regenerate", "⬆️ Upscale", "🎲 Variations"]
    batch = render.result_keyboard(job, media).inline_keyboard
    assert len(batch) == 11
    for row in batch:
        for key in row:
            assert len(str(key.callback_data).encode()) <= 64
    assert unpack(str(batch[10][0].callback_data)) == ("u", [media[9]])
