"""The fake Telegram Bot API against the REAL python-telegram-bot library.

If PTB can run a bot against the fake in polling and webhook mode, and the fake answers the
way the Bot API documents (shapes, errors, limits), end-to-end tests of our bot mean something.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from aiohttp import web
from PIL import Image
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto, Update
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, RetryAfter
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.support.fake_telegram import SECRET_HEADER, FakeTelegram

Handler = Any


def err(description: str) -> re.Pattern[str]:
    """PTB drops "Bad Request: " and capitalizes the description (lower-casing the rest)."""
    return re.compile(description, re.IGNORECASE)


def png(width: int = 64, height: int = 48, colour: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[Bot]:
    async with Bot(fake.token, base_url=fake.base_url, base_file_url=fake.base_file_url) as b:
        yield b


def build(fake: FakeTelegram, *handlers: Handler, updater: bool = True) -> Application:
    builder = (Application.builder().token(fake.token).base_url(fake.base_url)
               .base_file_url(fake.base_file_url))
    if not updater:
        builder = builder.updater(None)
    app = builder.build()
    for handler in handlers:
        app.add_handler(handler)
    return app


@asynccontextmanager
async def polling(fake: FakeTelegram, *handlers: Handler) -> AsyncIterator[Application]:
    app = build(fake, *handlers)
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        yield app
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text("Welcome to StationThis!")


# ---- polling, commands, privacy ------------------------------------------------------------
async def test_start_command_in_polling_mode(fake: FakeTelegram) -> None:
    alice = fake.user(1001, "Alice", "alice")
    async with polling(fake, CommandHandler("start", start)) as app:
        assert app.bot.username == "stationthis_test_bot"
        assert app.bot.id == int(fake.token.split(":")[0])
        sent = fake.send_text(alice, "/start")
        assert sent["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
        [call] = await fake.wait_for("sendMessage")
    assert call.ok and call.params["chat_id"] == alice.id
    assert [c.name for c in fake.calls[:2]] == ["getMe", "deleteWebhook"]
    seen = fake.messages_in(alice)
    assert [m["text"] for m in seen] == ["/start", "Welcome to StationThis!"]
    assert seen[1]["from"]["is_bot"] and seen[1]["message_id"] == 2
    assert fake.pending_updates == []  # PTB confirmed it with the next offset


async def test_group_commands_and_privacy_mode(fake: FakeTelegram) -> None:
    alice, group = fake.user(1001), fake.group(-1001234567890, "Studio")
    got: list[str] = []

    async def make(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        got.append(" ".join(context.args or []))
        await update.effective_message.reply_text("on it")

    async def anything(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        got.append(f"text:{update.effective_message.text}")

    async with polling(fake, CommandHandler("make", make),
                       MessageHandler(filters.TEXT & ~filters.COMMAND, anything)):
        fake.send_text(alice, "chatting among humans", chat=group)
        fake.send_text(alice, "/make@other_bot a dog", chat=group)
        fake.send_text(alice, "/make@stationthis_test_bot a cat", chat=group)
        [reply] = await fake.wait_for("sendMessage")
        fake.send_text(alice, "bigger please", chat=group, reply_to=reply.result["message_id"])
        await asyncio.wait_for(_until(lambda: len(got) == 2), 5)
    assert got == ["a cat", "text:bigger please"]
    assert [why for _, why in fake.withheld] == ["privacy mode: not a command for the bot nor a "
                                                 "reply to it"] * 2
    assert len(fake.messages_in(group)) == 5  # users see every message, the bot did not


async def _until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.01)


# ---- files -----------------------------------------------------------------------------------
async def test_bot_downloads_a_users_photo(fake: FakeTelegram) -> None:
    alice, image = fake.user(1001), png(800, 600)
    downloaded: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    async def on_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        file = await context.bot.get_file(update.message.photo[-1].file_id)
        downloaded.set_result(bytes(await file.download_as_bytearray()))

    async with polling(fake, MessageHandler(filters.PHOTO, on_photo)):
        update = fake.send_photo(alice, image, caption="make it blue")
        assert await asyncio.wait_for(downloaded, 5) == image
    small, large = update["message"]["photo"]
    assert (small["width"], small["height"]) == (320, 240)
    assert (large["width"], large["height"], large["file_size"]) == (800, 600, len(image))
    [get_file] = fake.calls_of("getFile")
    assert get_file.result["file_path"] in fake.downloads


async def test_send_photo_upload_file_id_and_url(fake: FakeTelegram, bot: Bot) -> None:
    alice, image = fake.user(1001, started=True), png()
    first = await bot.send_photo(alice.id, photo=image, caption="<b>done</b>", parse_mode="HTML")
    [call] = fake.calls_of("sendPhoto")
    assert call.params["photo"] == image and call.files["photo"].data == image
    assert first.caption == "done" and first.caption_entities[0].type == "bold"
    again = await bot.send_photo(alice.id, photo=first.photo[-1].file_id)
    assert again.photo[-1].file_unique_id == first.photo[-1].file_unique_id
    path = (await bot.get_file(first.photo[-1].file_id)).file_path
    assert path is not None
    by_url = await bot.send_photo(alice.id, photo=path)  # PTB made it a full download URL
    assert fake.photo_bytes(fake.messages_in(alice)[-1]) == image
    assert by_url.photo[-1].file_unique_id != first.photo[-1].file_unique_id
    with pytest.raises(BadRequest, match=err("wrong file identifier/HTTP URL specified")):
        await bot.send_photo(alice.id, photo="no-such-file-id")
    with pytest.raises(BadRequest, match=err("too big for a photo")):
        await bot.send_photo(alice.id, photo=b"\x89PNG" + bytes(10 * 1024 * 1024))
    with pytest.raises(BadRequest, match=err("IMAGE_PROCESS_FAILED")):
        await bot.send_photo(alice.id, photo=b"not an image at all")
    document = await bot.send_document(alice.id, document=b"%PDF-1.4", filename="r.pdf")
    assert (document.document.file_name, document.document.mime_type) == ("r.pdf",
                                                                         "application/pdf")
    with pytest.raises(BadRequest, match=err("can't use file of type Document as Photo")):
        await bot.send_photo(alice.id, photo=document.document.file_id)
    assert len(fake.messages_in(alice)) == 4


async def test_media_group(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(1001, started=True)
    images = [png(colour=(i * 40, 0, 0)) for i in range(3)]
    sent = await bot.send_media_group(alice.id, [InputMediaPhoto(i) for i in images],
                                      caption="three")
    assert len({m.media_group_id for m in sent}) == 1 and sent[0].media_group_id
    [call] = fake.calls_of("sendMediaGroup")
    assert [item["media"] for item in call.params["media"]] == images
    assert [fake.photo_bytes(m) for m in fake.messages_in(alice)] == images
    with pytest.raises(BadRequest, match=err("too many messages to send as an album")):
        await bot.send_media_group(alice.id, [InputMediaPhoto(png()) for _ in range(11)])
    assert len(fake.messages_in(alice)) == 3  # a refused album stores nothing
    [single] = await bot.send_media_group(alice.id, [InputMediaPhoto(png())])
    assert single.media_group_id is None  # the server sends one item as a plain message


# ---- editing, keyboards, callbacks -----------------------------------------------------------
async def test_edit_message_text(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(1001, started=True)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Cancel", callback_data="c:1")]])
    message = await bot.send_message(alice.id, "Queued…", reply_markup=keyboard)
    edited = await bot.edit_message_text("Running 10%", alice.id, message.message_id,
                                         reply_markup=keyboard)
    assert edited.text == "Running 10%" and edited.edit_date is not None
    with pytest.raises(BadRequest, match=err("message is not modified")):
        await bot.edit_message_text("Running 10%", alice.id, message.message_id,
                                    reply_markup=keyboard)
    await bot.edit_message_text("Running 10%", alice.id, message.message_id)  # drops keyboard
    assert "reply_markup" not in fake.messages_in(alice)[0]
    with pytest.raises(BadRequest, match=err("message to edit not found")):
        await bot.edit_message_text("x", alice.id, 999)
    photo = await bot.send_photo(alice.id, png())
    with pytest.raises(BadRequest, match=err("there is no text in the message to edit")):
        await bot.edit_message_text("x", alice.id, photo.message_id)
    await bot.edit_message_caption(alice.id, photo.message_id, caption="v2")
    replaced = await bot.edit_message_media(InputMediaPhoto(png(32, 32), caption="v3"),
                                            alice.id, photo.message_id)
    assert replaced.caption == "v3" and replaced.photo[-1].width == 32
    assert await bot.delete_message(alice.id, message.message_id)
    with pytest.raises(BadRequest, match=err("message to delete not found")):
        await bot.delete_message(alice.id, message.message_id)
    assert [m["message_id"] for m in fake.messages_in(alice)] == [photo.message_id]


async def test_inline_keyboard_press_runs_the_callback_handler(fake: FakeTelegram) -> None:
    alice = fake.user(1001)

    async def menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("Pick a size", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("Small", callback_data="size:s"),
              InlineKeyboardButton("Large", callback_data="size:l")]]))

    async def picked(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer(f"you picked {query.data}")
        await query.edit_message_text(f"Size: {query.data}")

    async with polling(fake, CommandHandler("menu", menu), CallbackQueryHandler(picked)):
        fake.send_text(alice, "/menu")
        [sent] = await fake.wait_for("sendMessage")
        with pytest.raises(ValueError, match=err("no button with callback_data 'size:xl'")):
            fake.press(alice, sent.result, "size:xl")
        pressed = fake.press(alice, sent.result, "size:l")
        await fake.wait_for("editMessageText")
        [answer] = await fake.wait_for("answerCallbackQuery")
    assert answer.params["callback_query_id"] == pressed["callback_query"]["id"]
    assert fake.callback_answer(pressed) == {"text": "you picked size:l"}
    assert fake.messages_in(alice)[-1]["text"] == "Size: size:l"


async def test_keyboard_and_text_validation(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(1001, started=True)
    too_long = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="x" * 65)]])
    with pytest.raises(BadRequest, match=err("BUTTON_DATA_INVALID")):
        await bot.send_message(alice.id, "hi", reply_markup=too_long)
    with pytest.raises(BadRequest, match=err(r"can't parse entities: Character '\.' is reserved")):
        await bot.send_message(alice.id, "Done.", parse_mode="MarkdownV2")
    with pytest.raises(BadRequest, match=err('Unsupported start tag "foo"')):
        await bot.send_message(alice.id, "<foo>x</foo>", parse_mode="HTML")
    ok = await bot.send_message(alice.id, r"*Done* in 3\.2s \- [log](https://x\.org/a)",
                                parse_mode="MarkdownV2")
    assert ok.text == "Done in 3.2s - log"
    assert [(e.type, e.offset, e.length) for e in ok.entities] == [("bold", 0, 4),
                                                                   ("text_link", 15, 3)]
    with pytest.raises(BadRequest, match=err("message is too long")):
        await bot.send_message(alice.id, "x" * 4097)
    with pytest.raises(BadRequest, match=err("chat not found")):
        await bot.send_message(424242, "hi")


# ---- chats and users -------------------------------------------------------------------------
async def test_chats_members_and_commands(fake: FakeTelegram, bot: Bot) -> None:
    alice, bob = fake.user(1001), fake.user(1002, "Bob")
    group = fake.group(-1001234567890, "Studio")
    group.admins.add(alice.id)
    fake.send_text(bob, "hello", chat=group)
    assert (await bot.get_chat_member(group.id, alice.id)).status == "administrator"
    assert (await bot.get_chat_member(group.id, bob.id)).status == "member"
    chat = await bot.get_chat(group.id)
    assert (chat.type, chat.title) == ("supergroup", "Studio")
    assert await bot.send_chat_action(group.id, "upload_photo")
    with pytest.raises(BadRequest, match=err("wrong parameter action")):
        await bot.send_chat_action(group.id, "dancing")
    assert await bot.set_my_commands([("make", "Make an image"), ("help", "Help")])
    assert [c.command for c in await bot.get_my_commands()] == ["make", "help"]
    with pytest.raises(Forbidden, match=err("bot can't initiate conversation with a user")):
        await bot.send_message(alice.id, "hi")  # Alice never opened a private chat
    fake.send_text(alice, "/start")
    alice.blocked = True
    with pytest.raises(Forbidden, match=err("bot was blocked by the user")):
        await bot.send_message(alice.id, "hi")


# ---- protocol: tokens, polling semantics, conflicts, flood ----------------------------------
async def test_wrong_token_and_raw_protocol(fake: FakeTelegram) -> None:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{fake.port}") as http:
        me = (await http.get(f"/bot{fake.token}/getme")).json()
        assert me == {"ok": True, "result": fake.bot}
        missing = await http.post(f"/bot{fake.token}/noSuchMethod", json={})
        assert (missing.status_code, missing.json()) == (
            404, {"ok": False, "error_code": 404, "description": "Not Found"})
        user = fake.user(5, started=True)
        sent = await http.post(f"/bot{fake.token}/sendMessage", json={"chat_id": 5, "text": "hi"})
        assert sent.json()["result"]["chat"] == {"id": 5, "type": "private", "first_name": "Alice"}
        assert fake.messages_in(user)[-1]["text"] == "hi"
    for token, status in (("123456:" + "A" * 35, 401), ("bad", 404)):
        wrong = Bot(token, base_url=fake.base_url)
        with pytest.raises(InvalidToken):  # initialize() calls getMe
            await wrong.initialize()
        await wrong.shutdown()
        # 401 Unauthorized for a well-formed token; 404 Not Found for a malformed one
        assert (fake.calls[-1].name, fake.calls[-1].status) == ("getMe", status)


async def test_get_updates_offsets_and_long_poll(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(1001)
    first = fake.send_text(alice, "one")["update_id"]
    assert [u.update_id for u in await bot.get_updates()] == [first]
    assert [u.update_id for u in await bot.get_updates()] == [first]  # not confirmed yet
    assert await bot.get_updates(offset=first + 1) == ()
    loop = asyncio.get_running_loop()
    loop.call_later(0.2, fake.send_text, alice, "two")
    started = loop.time()
    [update] = await bot.get_updates(offset=first + 1, timeout=5)
    assert update.message is not None and update.message.text == "two"
    assert loop.time() - started < 2  # returned as soon as the update arrived


async def test_conflicts(fake: FakeTelegram, bot: Bot) -> None:
    async with Bot(fake.token, base_url=fake.base_url) as second_instance:
        first = asyncio.create_task(bot.get_updates(timeout=3))
        await asyncio.sleep(0.2)
        await second_instance.get_updates(timeout=0)
        with pytest.raises(Conflict, match=err("terminated by other getUpdates request")):
            await first
    fake.set_webhook_target("http://127.0.0.1:9/hook")
    with pytest.raises(Conflict, match=err("can't use getUpdates method while webhook is active")):
        await bot.get_updates()
    assert await bot.delete_webhook()
    assert await bot.get_updates() == ()


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_flood_control_raises_retry_after(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(1001, started=True)
    fake.flood_after = 2
    await bot.send_message(alice.id, "1")
    await bot.send_message(alice.id, "2")
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(alice.id, "3")
    assert caught.value.retry_after in (1, timedelta(seconds=1))  # int form deprecated in 22.2
    assert fake.calls[-1].status == 429
    await asyncio.sleep(1.05)
    await bot.send_message(alice.id, "3")
    fake.fail_next("sendMessage", 502, "Bad Gateway")
    with pytest.raises(Exception, match=err("Bad Gateway")):
        await bot.send_message(alice.id, "4")
    assert [m["text"] for m in fake.messages_in(alice)] == ["1", "2", "3"]


# ---- webhook mode ------------------------------------------------------------------------------
@asynccontextmanager
async def receiver(handle: Any) -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_post("/telegram/webhook", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/telegram/webhook"
    finally:
        await runner.cleanup()


async def test_webhook_mode_delivers_with_the_secret(fake: FakeTelegram) -> None:
    alice = fake.user(1001)
    app = build(fake, CommandHandler("start", start), updater=False)

    async def hook(request: web.Request) -> web.Response:
        if request.headers.get(SECRET_HEADER) != "s3cr3t":
            return web.Response(status=403)
        await app.update_queue.put(Update.de_json(await request.json(), app.bot))
        return web.Response()

    async with receiver(hook) as url, app:
        await app.start()
        assert await app.bot.set_webhook(url, secret_token="s3cr3t")
        fake.send_text(alice, "/start")
        await fake.wait_for("sendMessage")
        info = await app.bot.get_webhook_info()
        await app.stop()
    assert (info.url, info.pending_update_count) == (url, 0)
    [delivery] = fake.deliveries
    assert (delivery.status, delivery.secret_token, delivery.url) == (200, "s3cr3t", url)
    assert fake.messages_in(alice)[-1]["text"] == "Welcome to StationThis!"


async def test_webhook_failures_and_replies(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(1001)
    fake.webhook_max_attempts, fake.webhook_retry_delay = 2, 0.05

    async def hook(request: web.Request) -> web.Response:
        if request.headers.get(SECRET_HEADER) != "right":
            return web.Response(status=403)
        update = await request.json()
        return web.json_response({"method": "sendMessage", "text": "pong",
                                  "chat_id": update["message"]["chat"]["id"]})

    async with receiver(hook) as url:
        fake.set_webhook_target(url, "wrong")
        fake.send_text(alice, "ping")
        await fake.wait_for_deliveries(2)
        info = await bot.get_webhook_info()
        assert info.last_error_message == "Wrong response from the webhook: 403 Forbidden"
        assert [d.status for d in fake.deliveries] == [403, 403]
        assert info.pending_update_count == 0  # given up after webhook_max_attempts
        fake.set_webhook_target(url, "right")
        fake.send_text(alice, "ping")
        [reply] = await fake.wait_for("sendMessage")
    assert (reply.source, reply.ok) == ("webhook_reply", True)
    assert json.dumps(fake.messages_in(alice)[-1]["text"]) == '"pong"'


async def test_webhook_host_override_and_url_rules(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(1001)
    received: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(request.path)
        return web.Response()

    with pytest.raises(BadRequest, match=err("An HTTPS URL must be provided for webhook")):
        await bot.set_webhook("http://bot.example.com/telegram/webhook")
    with pytest.raises(BadRequest, match=err("secret token contains unallowed characters")):
        await bot.set_webhook("https://bot.example.com/telegram/webhook", secret_token="a b")
    async with receiver(hook) as url:
        fake.webhook_host_override = url.removesuffix("/telegram/webhook")
        assert await bot.set_webhook("https://bot.example.com/telegram/webhook")
        fake.send_text(alice, "hi")
        [delivery] = await fake.wait_for_deliveries(1)
    assert received == ["/telegram/webhook"] and delivery.url == url
    assert (await bot.get_webhook_info()).url == "https://bot.example.com/telegram/webhook"


# ---- user-side shapes, entities and limits ---------------------------------------------------
async def test_user_updates_as_ptb_reads_them(fake: FakeTelegram, bot: Bot) -> None:
    alice, group = fake.user(1001, "Alice", "alice"), fake.group(-1001234567890, "Studio")
    text = fake.send_text(alice, "🎨 /make a cat #art @someone https://example.com/x")
    document = fake.send_document(alice, b"%PDF-1.4 x", "brief.pdf", "application/pdf",
                                  caption="see /make")
    fake.send_sticker(alice)
    fake.edit_text(alice, text["message"], "🎨 /make a dog")
    fake.send_photo(alice, png(), caption="/make@stationthis_test_bot v2", chat=group,
                    media_group_id="777")
    fake.send_photo(alice, png(), chat=group, media_group_id="777")  # no caption: withheld
    updates = await bot.get_updates()
    first = updates[0].message
    assert first is not None and first.from_user is not None
    assert first.from_user.username == "alice" and first.chat.type == "private"
    assert list(first.parse_entities().values()) == ["/make", "#art", "@someone",
                                                     "https://example.com/x"]
    assert updates[1].message is not None and updates[1].message.document is not None
    assert updates[1].message.document.file_name == "brief.pdf"
    assert updates[2].message is not None and updates[2].message.sticker is not None
    edited = updates[3].edited_message
    assert edited is not None and edited.text == "🎨 /make a dog" and edited.edit_date
    album = updates[4].message
    assert album is not None and album.media_group_id == "777" and len(updates) == 5
    assert [why for _, why in fake.withheld] == ["privacy mode: not a command for the bot nor a "
                                                 "reply to it"]
    file = await bot.get_file(document["message"]["document"]["file_id"])
    assert bytes(await file.download_as_bytearray()) == b"%PDF-1.4 x"


async def test_text_formatting_offsets_are_utf16(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(1001, started=True)
    sent = await bot.send_message(
        alice.id, "🎨 <b>Done</b> &amp; <a href='https://x.org/?a=1&amp;b=2'>log</a> "
                  "<pre><code class=\"language-json\">{}</code></pre>", parse_mode="HTML")
    assert sent.text == "🎨 Done & log {}"
    assert {e.type: text for e, text in sent.parse_entities().items()} == {
        "bold": "Done", "text_link": "log", "pre": "{}"}
    assert [e.url for e in sent.entities if e.type == "text_link"] == ["https://x.org/?a=1&b=2"]
    assert [e.language for e in sent.entities if e.type == "pre"] == ["json"]
    legacy = await bot.send_message(alice.id, "*bold* _it_ `code`", parse_mode="Markdown")
    assert legacy.text == "bold it code"
    with pytest.raises(BadRequest, match=err("can't find end of the entity starting at byte")):
        await bot.send_message(alice.id, "*unclosed", parse_mode="Markdown")
    with pytest.raises(BadRequest, match=err('can\'t find end tag corresponding to start tag "b"')):
        await bot.send_message(alice.id, "<b>unclosed", parse_mode="HTML")


async def test_file_size_limits(fake: FakeTelegram, bot: Bot) -> None:
    alice = fake.user(1001)
    big = fake.send_document(alice, bytes(20 * 1024 * 1024 + 1), "big.bin",
                             "application/octet-stream")
    with pytest.raises(BadRequest, match=err("file is too big")):
        await bot.get_file(big["message"]["document"]["file_id"])
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{fake.port}") as http:
        response = await http.post(f"/bot{fake.token}/sendDocument", data={"chat_id": "1001"},
                                   files={"document": ("huge.bin", bytes(50 * 1024 * 1024 + 1))})
        assert (response.status_code, response.json()["description"]) == (
            413, "Request Entity Too Large")
        missing = await http.get(f"/file/bot{fake.token}/documents/nope.bin")
        assert missing.status_code == 404
