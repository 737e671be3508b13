"""How fast one person may use a chat bot, so that normal work never meets a limit and a
flood still does.

Two token buckets per person, both ``ChatLimiter``s from ``app.limits`` (shared in Redis
when it is configured, in memory otherwise):

- the flood cap, on everything that reaches the bot (messages, commands, button presses):
  ``flood_burst`` at once, refilled over a minute. Reads, views and button answers cost
  nothing else, so only a flood meets it.
- the work allowance, on what costs: a job start (``START``) takes one token, an uploaded
  image (``UPLOAD``) a quarter; ``burst`` starts at once, then ``per_minute``. The chat flows
  take it where a job starts (``flows.submit``, ``flows.train``) and where images are stored.

The refusal says when to try again; where a platform need not answer every message
(Telegram), a run of refusals is answered once.
"""

from __future__ import annotations

import math

from stationthis.core.ratelimit import Limits, Verdict

START = 1.0  # a job start: an image, an upscale, a training, a regeneration
UPLOAD = 0.25  # one image stored (a photo added to a dataset)


class ChatLimits:
    """The flood cap and the work allowance of one platform's users, keyed by their id on
    that platform."""

    def __init__(self, limits: Limits, name: str, *, burst: int, per_minute: float,
                 flood_burst: int) -> None:
        self.flood = limits.chat_limiter(f"{name}:flood", flood_burst, flood_burst / 60)
        self.work = limits.chat_limiter(f"{name}:work", burst, per_minute / 60)

    async def message(self, user: str) -> Verdict:
        """Anything the user sends or presses (the flood cap)."""
        return await self.flood.take(user)

    async def spend(self, user: str, cost: float) -> Verdict:
        """Work worth ``cost`` (``START``, ``UPLOAD`` × images)."""
        return await self.work.take(user, cost)


def wait_of(verdict: Verdict) -> int:
    """Whole seconds to wait (at least 1)."""
    return max(1, math.ceil(verdict.retry_after))


def flood_text(verdict: Verdict) -> str:
    return (f"Slow down a little: that is a lot of messages at once. "
            f"Try again in {wait_of(verdict)}s.")


def busy_text(verdict: Verdict, cost: float = START) -> str:
    what = "starting jobs" if cost >= START else "sending images"
    return (f"You are {what} faster than I can take them: try again in "
            f"{wait_of(verdict)}s. Nothing was done or charged.")
