"""The output check: a flagged output is held (the user is told, nothing is charged, the
gallery does not show it) until an admin releases it (delivered and charged) or rejects it
(the hold is released, nothing is charged). Offline: the preview engine's deterministic
classifier flags images whose prompt has the test word."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.users import Account, Identity
from stationthis.engines.preview import PreviewEngine
from stationthis.workflows.app import App
from stationthis.workflows.make_image import Request
from tests.support.recording_notifier import RecordingNotifier

FLAG = "flag-for-review"


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier("test")


@pytest.fixture
async def checked(make_settings: Callable[..., Settings],
                  notifier: RecordingNotifier) -> AsyncIterator[App]:
    settings = make_settings(output_check_tool="builtin", new_user_grant=1000)
    async with build(settings, engine=PreviewEngine(), notifiers=[notifier]) as app:
        yield app


async def make(app: App, who: str, prompt: str) -> tuple[Account, str]:
    user = await app.users.resolve(Identity("test", who))
    job = await app.make_image.make(user, Request("make", {"prompt": prompt, "steps": 2}),
                                    reply={"platform": "test", "chat": who})
    return user, job.id


async def settled(app: App, job_id: str, state: str) -> None:
    for _ in range(200):
        if (await app.jobs.get(job_id)).state == state:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} is {(await app.jobs.get(job_id)).state}, not {state}")


async def test_a_clean_output_is_delivered_at_once(checked: App) -> None:
    _, job_id = await make(checked, "alice", "a red fox")
    job = await checked.jobs.wait(job_id, timeout=20)
    assert job.state == "succeeded" and job.cost == job.quote and job.outputs


async def test_held_then_released_is_delivered_and_charged_then(
    checked: App, notifier: RecordingNotifier
) -> None:
    ops = checked.operators
    assert ops is not None
    admin = await checked.users.resolve(Identity("test", "root"))
    user, job_id = await make(checked, "bob", f"a fox {FLAG}")
    await settled(checked, job_id, "held")
    job = await checked.jobs.get(job_id)
    before = await checked.ledger.balance(user.id)
    assert job.outputs == [] and job.cost is None  # not shown, not charged
    kinds = [e.kind for e in await checked.ledger.history(user.id)]
    assert "capture" not in kinds and "hold" in kinds
    for _ in range(200):  # progress is coalesced: the latest state arrives
        told = notifier.progress_of(job_id)
        if told and told[-1].notice.state == "held":
            break
        await asyncio.sleep(0.05)
    assert told[-1].notice.progress.get("message") == "your image is being reviewed"
    assert not notifier.finished_of(job_id)
    (held,) = await ops.flagged("held")
    assert held.job_id == job_id and held.outputs and "test word" in held.rule

    job = await ops.release(admin, job_id)
    assert job.state == "succeeded" and job.outputs == held.outputs and job.cost == job.quote
    (done,) = await notifier.wait_for("finished", job_id=job_id)
    assert done.notice.state == "succeeded" and done.notice.outputs == held.outputs
    after = await checked.ledger.balance(user.id)
    assert after.total == before.total  # the held points were the charge
    assert await checked.ledger.verify(user.id)
    assert [e.action for e in await ops.recent_audit()] == ["release output"]


async def test_held_then_rejected_costs_nothing(checked: App, notifier: RecordingNotifier) -> None:
    ops = checked.operators
    assert ops is not None
    admin = await checked.users.resolve(Identity("test", "root"))
    user, job_id = await make(checked, "carol", f"{FLAG.upper()} please")
    start = 2000  # the grant and the allowance
    await settled(checked, job_id, "held")
    job = await ops.reject(admin, job_id, "not for this community")
    assert job.state == "failed" and job.error_code == "rejected" and job.outputs == []
    assert (await checked.ledger.balance(user.id)).total == start
    (done,) = await notifier.wait_for("finished", job_id=job_id)
    assert done.notice.state == "failed" and done.notice.released == job.quote
    assert [e.status for e in await ops.flagged()] == ["rejected"]
    with pytest.raises(Exception, match="not held"):
        await ops.release(admin, job_id)


async def test_without_a_check_nothing_is_held(make_settings: Callable[..., Settings]) -> None:
    async with build(make_settings(), engine=PreviewEngine()) as app:
        _, job_id = await make(app, "dave", f"a fox {FLAG}")
        assert (await app.jobs.wait(job_id, timeout=20)).state == "succeeded"
