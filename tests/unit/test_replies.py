"""Typed reply addresses: every shape a platform stored reads back, each type writes exactly
the JSON stored before the types existed, and an unreadable address never stops a job or a
notifier (it is logged and nobody is told)."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from sqlalchemy import select, update

from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.events import Event, JobSucceeded
from stationthis.core.jobs import NewJob
from stationthis.core.replies import (
    BadReply,
    CliReply,
    DirectReply,
    DiscordReply,
    OtherReply,
    Reply,
    TelegramReply,
    WebReply,
    as_reply,
    read_reply,
    reply_from_json,
)
from stationthis.core.schema import jobs
from stationthis.core.users import Identity
from tests.support.recording_notifier import RecordingNotifier
from tests.support.scripted import ScriptedEngine

# what the platforms wrote on jobs before the types (and still write): value → its JSON
STORED: list[tuple[Reply, dict[str, Any]]] = [
    (TelegramReply(chat=-100123, message=7, reply_to=5),
     {"platform": "telegram", "chat": -100123, "message": 7, "reply_to": 5}),
    (TelegramReply(chat=42, message=8),  # a button's status message replies to nothing
     {"platform": "telegram", "chat": 42, "message": 8}),
    (DiscordReply(token="tok", at=1733400000, channel="9", message="11", mention="42"),
     {"platform": "discord", "token": "tok", "at": 1733400000, "channel": "9",
      "message": "11", "mention": "42"}),
    (DiscordReply(token="tok", at=1733400000, channel=None, message="", mention="42"),
     {"platform": "discord", "token": "tok", "at": 1733400000, "channel": None,
      "message": "", "mention": "42"}),
    (DirectReply("discord", "456"), {"platform": "discord", "user": "456"}),
    (DirectReply("telegram", "1606"), {"platform": "telegram", "user": "1606"}),
    (WebReply(), {"platform": "web"}),
    (WebReply("acc1"), {"platform": "web", "address": {"account_id": "acc1"}}),
    (CliReply(), {"platform": "cli"}),
    (OtherReply("irc", {"channel": "#art"}), {"platform": "irc", "channel": "#art"}),
]


@pytest.mark.parametrize(("reply", "stored"), STORED)
def test_each_address_writes_the_stored_json_and_reads_it_back(
    reply: Reply, stored: dict[str, Any]
) -> None:
    assert reply.to_json() == stored
    assert reply_from_json(stored) == reply
    assert as_reply(stored) == reply and as_reply(reply) is reply


@pytest.mark.parametrize(("legacy", "reply"), [
    ({"platform": "telegram", "address": {"chat": 5, "message": 6}},
     TelegramReply(chat=5, message=6)),  # the early nested shape
    ({"platform": "telegram", "chat": "5", "message": "6"}, TelegramReply(chat=5, message=6)),
    ({"platform": "telegram", "chat": 1}, TelegramReply(chat=1)),
    ({"platform": "discord", "channel": 5}, DiscordReply(channel="5")),
    ({"platform": "discord", "token": "t", "at": 1733400000.7},
     DiscordReply(token="t", at=1733400000.7)),
    ({"platform": "test"}, OtherReply("test")),
    (None, None),
    ({}, None),
])
def test_older_and_partial_shapes_are_read(legacy: object, reply: Reply | None) -> None:
    assert reply_from_json(legacy) == reply


GARBAGE: list[object] = [
    [1, 2], "telegram", 7, {"chat": 1}, {"platform": ""}, {"platform": 3},
    {"platform": "telegram"}, {"platform": "telegram", "chat": "general"},
    {"platform": "telegram", "chat": True}, {"platform": "telegram", "chat": 1, "message": [7]},
    {"platform": "discord"}, {"platform": "discord", "token": "t", "at": "yesterday"},
    {"platform": "discord", "token": {"nested": 1}}, {"platform": "discord", "user": ""},
]


@pytest.mark.parametrize("garbage", GARBAGE)
def test_garbage_is_a_clear_error_or_ignored_when_stored(
    garbage: object, caplog: pytest.LogCaptureFixture
) -> None:
    with pytest.raises(BadReply):
        reply_from_json(garbage)
    with caplog.at_level(logging.WARNING, "stationthis.core.replies"):
        assert read_reply(garbage) is None
    assert "unreadable reply address" in caplog.text


def test_a_discord_token_is_used_until_shortly_before_it_expires() -> None:
    reply = DiscordReply(token="t", at=1000, channel="9")
    assert reply.usable_token(1000 + 13 * 60) == "t"
    assert reply.usable_token(1000 + 14 * 60) is None  # a minute's margin
    assert DiscordReply(channel="9").usable_token(1000) is None


def test_events_keep_the_stored_json_in_their_payload_and_read_old_payloads() -> None:
    reply = TelegramReply(chat=1, message=7, reply_to=5)
    event = JobSucceeded(job_id="j", owner_id="o", reply=reply, outputs=["m"], cost=3)
    payload = event.payload()
    assert payload["reply"] == {"platform": "telegram", "chat": 1, "message": 7, "reply_to": 5}
    assert Event.from_payload("JobSucceeded", payload) == event
    # an outbox row written before the types, and one whose address is unreadable
    old = {**payload, "reply": {"platform": "telegram", "address": {"chat": 1, "message": 7}}}
    assert Event.from_payload("JobSucceeded", old).reply == TelegramReply(chat=1, message=7)
    bad = {**payload, "reply": {"platform": "telegram", "chat": "general"}}
    revived = Event.from_payload("JobSucceeded", bad)
    assert isinstance(revived, JobSucceeded) and revived.reply is None


async def _failed_job_with_stored_reply(settings: Settings, stored: object) -> str:
    """A job that failed in a process that stopped before telling anyone, its ``reply``
    column as ``stored`` (written by an older version, or damaged)."""
    crashed = build(settings, engine=ScriptedEngine())  # never started: nothing publishes
    alice = await crashed.users.resolve(Identity("telegram", "1"))
    job = await crashed.jobs.create(
        NewJob(owner_id=alice.id, payer_id=alice.id, tool="make", category="txt2img",
               params={"prompt": "x"}, quote=15, engine="scripted",
               reply=TelegramReply(chat=1, message=2)))
    async with crashed.db.write() as conn:
        await conn.execute(update(jobs).where(jobs.c.id == job.id).values(reply=stored))
    assert (await crashed.jobs.get(job.id)).reply == read_reply(stored)  # reads, never raises
    await crashed.jobs.fail(job.id, "the GPU caught fire", "engine_failed")
    await crashed.db.dispose()
    return job.id


async def _deliver(settings: Settings, notifier: RecordingNotifier) -> None:
    async with build(settings, engine=ScriptedEngine(), notifiers=[notifier]) as app:
        await app.relay.drain()
        await app.notifications.wait_idle()


async def test_a_job_stored_by_an_older_version_is_delivered_after_the_upgrade(
    settings: Settings,
) -> None:
    job_id = await _failed_job_with_stored_reply(
        settings, {"platform": "telegram", "address": {"chat": "1", "message": 7}})
    telegram = RecordingNotifier("telegram")
    await _deliver(settings, telegram)
    (call,) = telegram.finished_of(job_id)
    assert call.address == {"platform": "telegram", "chat": 1, "message": 7}
    assert call.notice.state == "failed" and call.notice.released == 15


@pytest.mark.parametrize("stored", [{"platform": "telegram", "chat": "general"}, [1, 2]])
async def test_an_unreadable_stored_address_tells_nobody_and_breaks_nothing(
    settings: Settings, stored: object, caplog: pytest.LogCaptureFixture
) -> None:
    job_id = await _failed_job_with_stored_reply(settings, stored)
    telegram = RecordingNotifier("telegram")
    with caplog.at_level(logging.WARNING):
        await _deliver(settings, telegram)
    assert telegram.calls == telegram.failures == []
    assert "unreadable reply address" in caplog.text
    async with build(settings, engine=ScriptedEngine()) as app:  # still listed, refunded
        assert (await app.jobs.get(job_id)).state == "failed"
        async with app.db.read() as conn:
            raw = (await conn.execute(select(jobs.c.reply).where(jobs.c.id == job_id))).scalar()
    assert raw == stored  # left as it was

