"""Notification service throughput with many jobs in flight, against the raw bus in the same run.

    .venv/bin/python bench/notify.py [--jobs 1000] [--seconds 5] [--interval 1.0]
                                     [--notifier-delay 0.005]

Progress phase: synthetic ``JobProgressed`` events for ``--jobs`` job ids, round-robin, as fast
as one publisher can go (yielding to the loop every 200 events, as a real producer would), for
``--seconds``; the service coalesces them to one call per job per ``--interval``. The notifier
is a ``RecordingNotifier`` that takes ``--notifier-delay`` seconds per call (a platform's
latency). Completion phase: one ``JobSucceeded`` per job, each claimed in ``deliveries``
(SQLite, WAL, in a temp dir) and delivered, then every one published again (all duplicates).
The baseline is the same ``EventBus`` publishing exactly the same events to a no-op
subscriber. Delays are from the event's publish to the start of the notifier call; for
progress they include the coalescing wait (up to the interval) by design.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # for tests.support.recording_notifier

from sqlalchemy import insert  # noqa: E402
from tests.support.recording_notifier import RecordingNotifier  # noqa: E402

from stationthis.core.db import Database, new_id, utcnow  # noqa: E402
from stationthis.core.events import (  # noqa: E402
    Event,
    EventBus,
    JobProgressed,
    JobQueued,
    JobSucceeded,
)
from stationthis.core.notifications import NotificationService  # noqa: E402
from stationthis.core.points import AllowancePolicy, Ledger  # noqa: E402
from stationthis.core.schema import jobs  # noqa: E402
from stationthis.core.users import Identity, Users  # noqa: E402
from stationthis.migrations import upgrade  # noqa: E402

REPLY = {"platform": "telegram", "chat": 1}
YIELD_EVERY = 200


async def publish_progress(
    bus: EventBus, job_ids: list[str], owner: str, *, seconds: float = 0.0, count: int = 0
) -> tuple[int, float]:
    """Round-robin progress for every job, for ``seconds`` or ``count`` events (whichever is
    given); returns how many were published and the seconds taken."""
    published, step, start = 0, 0, time.monotonic()
    end = start + seconds
    while (time.monotonic() < end) if seconds else (published < count):
        step += 1
        for job_id in job_ids:
            await bus.publish(JobProgressed(
                job_id=job_id, owner_id=owner, reply=REPLY, state="running",
                progress={"step": step, "t": time.monotonic()},
            ))
            published += 1
            if published % YIELD_EVERY == 0:
                await asyncio.sleep(0)
            if count and published >= count:
                break
    return published, time.monotonic() - start


async def publish_all(bus: EventBus, events: Sequence[Event]) -> float:
    """Publish the given events (yielding like the publisher above); returns seconds taken."""
    start = time.monotonic()
    for i, event in enumerate(events, 1):
        await bus.publish(event)
        if i % YIELD_EVERY == 0:
            await asyncio.sleep(0)
    return time.monotonic() - start


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def setup(db: Database, n: int) -> tuple[str, list[str]]:
    policy = AllowancePolicy(0, 1, 900)
    owner = await Users(db, Ledger(db, policy), policy).resolve(Identity("telegram", "1"))
    now = utcnow()
    ids = [new_id() for _ in range(n)]
    async with db.write() as conn:
        await conn.execute(insert(jobs), [
            dict(id=i, owner_id=owner.id, payer_id=owner.id, tool="make", category="txt2img",
                 params={}, inputs={}, state="running", progress={}, engine="bench", quote=1,
                 outputs=[], reply=REPLY, cancel_requested=False, created_at=now,
                 updated_at=now)
            for i in ids
        ])
    return owner.id, ids


async def bench(args: argparse.Namespace, url: str) -> None:
    db = Database(url)
    owner, job_ids = await setup(db, args.jobs)
    notifier = RecordingNotifier("telegram", delay=args.notifier_delay)
    bus = EventBus()
    service = NotificationService(db, bus, Users(db, Ledger(db, AllowancePolicy(0, 1, 1)),
                                                 AllowancePolicy(0, 1, 1)),
                                  notifiers=[notifier], progress_interval=args.interval)
    service.start()
    for job_id in job_ids:  # as the outbox relay does when a job is created
        await bus.publish(JobQueued(job_id=job_id, owner_id=owner, reply=REPLY, tool="make",
                                    quote=1))

    # ----- progress --------------------------------------------------------------------------
    events, publish_s = await publish_progress(bus, job_ids, owner, seconds=args.seconds)
    await service.wait_idle(args.interval + 5)
    calls = notifier.progress_of()
    delays = [c.at - float(c.notice.progress["t"]) for c in calls]
    by_job: dict[str, list[float]] = defaultdict(list)
    for c in calls:
        by_job[c.notice.job_id].append(c.at)
    gaps = [b - a for ats in by_job.values() for a, b in itertools.pairwise(ats)]
    raw = EventBus()

    async def nothing(event: Event) -> None:
        return None

    raw.subscribe(nothing, JobProgressed, JobSucceeded)
    _, base_s = await publish_progress(raw, job_ids, owner, count=events)

    # ----- completions -----------------------------------------------------------------------
    done = [JobSucceeded(job_id=j, owner_id=owner, reply=REPLY, outputs=[], cost=1)
            for j in job_ids]
    sent_at: dict[str, float] = {}
    start = time.monotonic()
    for i, event in enumerate(done, 1):
        sent_at[event.job_id] = time.monotonic()
        await bus.publish(event)
        if i % YIELD_EVERY == 0:
            await asyncio.sleep(0)
    claim_s = time.monotonic() - start
    await service.wait_idle(30)
    first_s = time.monotonic() - start
    again_s = await publish_all(bus, done)  # every one a duplicate: claim refused
    await service.wait_idle(30)
    finished = notifier.finished_of()
    done_delays = [c.at - sent_at[c.notice.job_id] for c in finished]
    base_done_s = await publish_all(raw, done)
    await service.stop()
    await db.dispose()

    print(f"notify bench: {args.jobs} jobs in flight, interval {args.interval}s, "
          f"notifier {args.notifier_delay * 1000:.1f} ms/call, SQLite (WAL)")
    print("progress (JobProgressed, straight from the bus)")
    print(f"  events published          {events:>10}  in {publish_s:.2f} s")
    print(f"  service   events/s        {events / publish_s:>10.0f}")
    print(f"  raw bus   events/s        {events / base_s:>10.0f}   (no-op subscriber)")
    print(f"  notifier progress calls   {len(calls):>10}   delivered")
    print(f"  coalesced away            {events - len(calls):>10}   "
          f"({100 * (events - len(calls)) / max(events, 1):.2f} %)")
    print(f"  min gap, one job's calls  {min(gaps, default=float('nan')):>10.3f} s")
    print(f"  delay event→call  p50 {pct(delays, 0.5):.3f} s   p99 {pct(delays, 0.99):.3f} s"
          f"   max {max(delays, default=float('nan')):.3f} s")
    print(f"  failed/interrupted calls  {len(notifier.failures) + len(notifier.interrupted):>10}")
    print("completion (JobSucceeded, claimed in deliveries)")
    print(f"  service   first publish   {len(done) / claim_s:>10.0f} events/s  "
          f"(all delivered in {first_s:.2f} s)")
    print(f"  service   re-publish      {len(done) / again_s:>10.0f} events/s  (duplicates)")
    print(f"  raw bus                   {len(done) / base_done_s:>10.0f} events/s")
    print(f"  finished calls            {len(finished):>10}   (expected {len(done)}, "
          f"distinct jobs {len({c.notice.job_id for c in finished})})")
    print(f"  delay event→call  p50 {pct(done_delays, 0.5):.3f} s   "
          f"p99 {pct(done_delays, 0.99):.3f} s   "
          f"mean {statistics.fmean(done_delays) if done_delays else float('nan'):.3f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--interval", type=float, default=1.0)
    parser.add_argument("--notifier-delay", type=float, default=0.005)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        upgrade(url)  # runs its own event loop: before ours
        asyncio.run(asyncio.wait_for(bench(args, url), 55))


if __name__ == "__main__":
    main()
