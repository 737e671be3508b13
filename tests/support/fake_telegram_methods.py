"""The bot-side methods of the fake Telegram Bot API (sending, editing, files, chats).

Each ``api_<methodName>`` takes the parsed parameters and returns the ``result`` or raises
:class:`ApiError`. Error descriptions are the real server's where we know them.
Update delivery (getUpdates, webhooks) lives in :mod:`tests.support.fake_telegram`.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import math
import re
import secrets
import time
from typing import Any

import aiohttp

from tests.support.fake_telegram_format import EntityParseError, format_text, u16len
from tests.support.fake_telegram_objects import (
    JSON,
    MAX_DOWNLOAD_BYTES,
    MAX_PHOTO_BYTES,
    ApiError,
    FakeChat,
    FakeUser,
    FileStore,
    StoredFile,
    Upload,
    bad,
    check_reply_markup,
    document_dict,
    flood,
    now,
)

CHAT_ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice",
                "upload_voice", "upload_document", "choose_sticker", "find_location",
                "record_video_note", "upload_video_note"}
FileInput = Upload | str


def _formatted(text: Any, parse_mode: Any, entities: Any) -> tuple[str, list[JSON]]:
    try:
        return format_text(str(text), parse_mode, entities)
    except EntityParseError as error:
        raise bad(f"can't parse entities: {error}") from None


def _content_key(message: JSON) -> tuple[Any, ...]:
    return tuple(message.get(k) for k in ("text", "entities", "caption", "caption_entities",
                                          "photo", "document", "reply_markup"))


class BotMethods:
    """Chat and file state plus the methods a bot calls to act on it."""

    def __init__(self, bot: JSON) -> None:
        self.bot = bot
        self.files = FileStore()
        self.flood_after: int | None = None
        self.flood_retry_after = 1
        self.commands: dict[str, list[JSON]] = {}
        self._chats: dict[int, FakeChat] = {}
        self._users: dict[int, FakeUser] = {}
        self._callbacks: dict[str, JSON] = {}
        self._sent: dict[int, collections.deque[float]] = collections.defaultdict(
            collections.deque)
        self._blocked_until: dict[int, float] = {}

    # ---- helpers -----------------------------------------------------------------------
    def _chat(self, params: JSON, *, acting: bool = True) -> FakeChat:
        chat_id = params.get("chat_id")
        if chat_id in (None, ""):
            raise bad("chat_id is empty")
        chat = self._chats.get(chat_id) if isinstance(chat_id, int) else next(
            (c for c in self._chats.values()
             if c.username and f"@{c.username}".lower() == str(chat_id).lower()), None)
        if chat is None:
            raise bad("chat not found")
        user = self._users.get(chat.id) if chat.type == "private" else None
        if acting and user is not None:
            if user.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            if not user.started:
                raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
        return chat

    def _check_flood(self, chat: FakeChat) -> None:
        if self.flood_after is None:
            return
        moment = time.monotonic()
        until = self._blocked_until.get(chat.id, 0.0)
        if moment < until:
            raise flood(max(1, math.ceil(until - moment)))
        recent = self._sent[chat.id]
        while recent and moment - recent[0] > 1.0:
            recent.popleft()
        if len(recent) >= self.flood_after:
            self._blocked_until[chat.id] = moment + self.flood_retry_after
            raise flood(self.flood_retry_after)

    def _markup(self, params: JSON, chat: FakeChat | None = None) -> JSON | None:
        markup = params.get("reply_markup")
        if markup is None:
            return None
        markup = check_reply_markup(markup)
        if "inline_keyboard" in markup:
            return markup
        if chat is not None:  # a reply keyboard is shown to the user, not part of the message
            chat.reply_keyboard = None if markup.get("remove_keyboard") else markup
        return None

    def _reply_to(self, chat: FakeChat, params: JSON) -> JSON | None:
        reply = params.get("reply_parameters") or {}
        message_id = reply.get("message_id", params.get("reply_to_message_id"))
        if message_id is None:
            return None
        target = chat.messages.get(int(message_id))
        if target is None:
            if reply.get("allow_sending_without_reply") or params.get(
                    "allow_sending_without_reply"):
                return None
            raise bad("message to be replied not found")
        return {k: v for k, v in target.items() if k != "reply_to_message"}

    def _caption(self, params: JSON, source: JSON | None = None) -> JSON:
        source = params if source is None else source
        if source.get("caption") is None:
            return {}
        text, entities = _formatted(source["caption"], source.get("parse_mode"),
                                    source.get("caption_entities"))
        if u16len(text) > 1024:
            raise bad("message caption is too long")
        content: JSON = {"caption": text} if text else {}
        if text and entities:
            content["caption_entities"] = entities
        return content

    def store_message(self, chat: FakeChat, sender: JSON, content: JSON,
                      reply_to: JSON | None = None, markup: JSON | None = None) -> JSON:
        message: JSON = {"message_id": chat.next_message_id(), "from": sender,
                         "chat": chat.as_dict(), "date": now()}
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        message.update(content)
        if markup is not None:
            message["reply_markup"] = markup
        chat.messages[message["message_id"]] = message
        return message

    def _send(self, chat: FakeChat, params: JSON, content: JSON, markup: JSON | None) -> JSON:
        message = self.store_message(chat, dict(self.bot_user()), content,
                                     self._reply_to(chat, params), markup)
        if params.get("protect_content"):
            message["has_protected_content"] = True
        self._sent[chat.id].append(time.monotonic())
        return copy.deepcopy(message)

    def bot_user(self) -> JSON:
        return {k: self.bot[k] for k in ("id", "is_bot", "first_name", "username")}

    async def _file(self, value: Any, name: str, wanted: str) -> tuple[StoredFile | None,
                                                                       Upload | None]:
        """An existing file (by file_id) or new content (upload or HTTP URL)."""
        if value is None or value == "":
            raise bad(f"there is no {name} in the request")
        if isinstance(value, Upload):
            return None, value
        text = str(value)
        if re.match(r"https?://", text):
            return None, await _download(text, wanted)
        stored = self.files.get(text)
        if stored is None:
            raise bad("wrong file identifier/HTTP URL specified")
        if stored.kind != wanted:
            raise bad(f"can't use file of type {stored.kind.title()} as {wanted.title()}")
        return stored, None

    async def _photo(self, value: Any, name: str = "photo") -> list[JSON]:
        stored, upload = await self._file(value, name, "photo")
        if stored is not None:
            return copy.deepcopy(stored.photo or [])
        assert upload is not None
        if not upload.data:
            raise bad("file must be non-empty")
        if len(upload.data) > MAX_PHOTO_BYTES:
            raise bad(f"file of size {len(upload.data)} bytes is too big for a photo; the "
                      f"maximum size is {MAX_PHOTO_BYTES} bytes")
        return self.files.add_photo(upload.data)

    async def _document(self, value: Any, name: str = "document") -> JSON:
        stored, upload = await self._file(value, name, "document")
        if stored is not None:
            return document_dict(stored)
        assert upload is not None
        return self.files.add_document(upload.data, upload.filename, upload.content_type)

    async def _media_content(self, item: Any) -> JSON:
        if not isinstance(item, dict) or "type" not in item:
            raise bad("can't parse InputMedia: media not found")
        kind = item["type"]
        if kind not in ("photo", "document"):
            raise bad(f'can\'t parse InputMedia: type "{kind}" is not supported by FakeTelegram')
        if isinstance(item.get("media"), str) and item["media"].startswith("attach://"):
            raise bad("can't parse InputMedia: media not found")
        content: JSON = ({"photo": await self._photo(item.get("media"), "media")}
                         if kind == "photo" else
                         {"document": await self._document(item.get("media"), "media")})
        if kind == "photo" and item.get("has_spoiler"):
            content["has_media_spoiler"] = True
        return content | self._caption(item, item)

    def _editable(self, params: JSON) -> JSON:
        if params.get("inline_message_id"):
            raise bad("inline messages are not supported by FakeTelegram")
        if params.get("message_id") is None:
            raise bad("message identifier is not specified")
        chat = self._chat(params)
        message = chat.messages.get(int(params["message_id"]))
        if message is None:
            raise bad("message to edit not found")
        if message["from"]["id"] != self.bot["id"]:
            raise bad("message can't be edited")
        return message

    def _apply_edit(self, message: JSON, changes: JSON, markup: JSON | None) -> JSON:
        edited = {k: v for k, v in message.items() if k not in ("reply_markup", "edit_date")}
        edited = {k: v for k, v in edited.items() if changes.get(k, v) is not None} | {
            k: v for k, v in changes.items() if v is not None}
        if markup is not None:
            edited["reply_markup"] = markup
        if _content_key(edited) == _content_key(message):
            raise bad("message is not modified: specified new message content and reply markup "
                      "are exactly the same as a current content and reply markup of the message")
        edited["edit_date"] = now()
        message.clear()
        message.update(edited)
        return copy.deepcopy(message)

    # ---- methods ------------------------------------------------------------------------
    async def api_getMe(self, p: JSON) -> JSON:
        return dict(self.bot)

    async def api_sendMessage(self, p: JSON) -> JSON:
        chat = self._chat(p)
        self._check_flood(chat)
        text, entities = _formatted(p.get("text", ""), p.get("parse_mode"), p.get("entities"))
        if not text.strip():
            raise bad("message text is empty")
        if u16len(text) > 4096:
            raise bad("message is too long")
        content: JSON = {"text": text} | ({"entities": entities} if entities else {})
        if p.get("link_preview_options") is not None:
            content["link_preview_options"] = p["link_preview_options"]
        return self._send(chat, p, content, self._markup(p, chat))

    async def api_sendPhoto(self, p: JSON) -> JSON:
        chat = self._chat(p)
        self._check_flood(chat)
        caption = self._caption(p)
        content: JSON = {"photo": await self._photo(p.get("photo"))} | caption
        if p.get("has_spoiler"):
            content["has_media_spoiler"] = True
        if p.get("show_caption_above_media"):
            content["show_caption_above_media"] = True
        return self._send(chat, p, content, self._markup(p, chat))

    async def api_sendDocument(self, p: JSON) -> JSON:
        chat = self._chat(p)
        self._check_flood(chat)
        caption = self._caption(p)
        content = {"document": await self._document(p.get("document"))} | caption
        return self._send(chat, p, content, self._markup(p, chat))

    async def api_sendMediaGroup(self, p: JSON) -> list[JSON]:
        chat = self._chat(p)
        media = p.get("media")
        if media is None:
            raise bad('parameter "media" is required')
        if not isinstance(media, list) or not media:
            raise bad("there are no messages to send")
        if len(media) > 10:
            raise bad("too many messages to send as an album")
        kinds = {item.get("type") for item in media if isinstance(item, dict)}
        for alone in ("document", "audio"):
            if alone in kinds and len(kinds) > 1:
                raise bad(f"{alone} can't be mixed with other media types")
        self._check_flood(chat)
        contents = [await self._media_content(item) for item in media]  # all or nothing
        group_id = str(secrets.randbits(63)) if len(contents) > 1 else None
        sent = []
        for content in contents:
            if group_id is not None:
                content["media_group_id"] = group_id
            sent.append(self._send(chat, p, content, None))
        return sent

    async def api_editMessageText(self, p: JSON) -> JSON:
        message = self._editable(p)
        if "text" not in message:
            raise bad("there is no text in the message to edit")
        text, entities = _formatted(p.get("text", ""), p.get("parse_mode"), p.get("entities"))
        if not text.strip():
            raise bad("message text is empty")
        if u16len(text) > 4096:
            raise bad("MESSAGE_TOO_LONG")
        changes: JSON = {"text": text, "entities": entities or None}
        return self._apply_edit(message, changes, self._markup(p))

    async def api_editMessageCaption(self, p: JSON) -> JSON:
        message = self._editable(p)
        if "text" in message:
            raise bad("there is no caption in the message to edit")
        caption = self._caption(p)
        changes = {"caption": caption.get("caption"),
                   "caption_entities": caption.get("caption_entities")}
        return self._apply_edit(message, changes, self._markup(p))

    async def api_editMessageMedia(self, p: JSON) -> JSON:
        message = self._editable(p)
        if "photo" not in message and "document" not in message:
            raise bad("there is no media in the message to edit")
        content = await self._media_content(p.get("media"))
        changes = {"photo": None, "document": None, "caption": None,
                   "caption_entities": None} | content
        return self._apply_edit(message, changes, self._markup(p))

    async def api_editMessageReplyMarkup(self, p: JSON) -> JSON:
        message = self._editable(p)
        return self._apply_edit(message, {}, self._markup(p))

    async def api_deleteMessage(self, p: JSON) -> bool:
        chat = self._chat(p)
        message = chat.messages.get(int(p.get("message_id") or 0))
        if message is None:
            raise bad("message to delete not found")
        own = message["from"]["id"] == self.bot["id"]
        if not own and chat.type != "private" and self.bot["id"] not in chat.admins:
            raise bad("message can't be deleted")
        del chat.messages[message["message_id"]]
        return True

    async def api_deleteMessages(self, p: JSON) -> bool:
        for message_id in p.get("message_ids") or []:
            with contextlib.suppress(ApiError):  # it skips messages it can't delete
                await self.api_deleteMessage(p | {"message_id": message_id})
        return True

    async def api_answerCallbackQuery(self, p: JSON) -> bool:
        query = self._callbacks.get(str(p.get("callback_query_id")))
        if query is None or query["answered"]:
            raise bad("query is too old and response timeout expired or query ID is invalid")
        if len(str(p.get("text") or "")) > 200:
            raise bad("MESSAGE_TOO_LONG")
        query["answered"] = True
        query["answer"] = {k: p[k] for k in ("text", "show_alert", "url") if k in p}
        return True

    async def api_sendChatAction(self, p: JSON) -> bool:
        self._chat(p)
        if p.get("action") not in CHAT_ACTIONS:
            raise bad("wrong parameter action in request")
        return True

    async def api_getFile(self, p: JSON) -> JSON:
        stored = self.files.get(str(p.get("file_id") or ""))
        if stored is None:
            raise bad("invalid file_id")
        result: JSON = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                        "file_size": stored.file_size}
        if stored.file_size > MAX_DOWNLOAD_BYTES:
            raise bad("file is too big")
        result["file_path"] = self.files.path_for(stored)
        return result

    async def api_setMyCommands(self, p: JSON) -> bool:
        commands = p.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise bad("can't parse commands JSON object")
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
                raise bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise bad("BOT_COMMAND_DESCRIPTION_INVALID")
        self.commands[self._commands_key(p)] = [
            {"command": c["command"], "description": c["description"]} for c in commands]
        return True

    async def api_getMyCommands(self, p: JSON) -> list[JSON]:
        return copy.deepcopy(self.commands.get(self._commands_key(p), []))

    async def api_deleteMyCommands(self, p: JSON) -> bool:
        self.commands.pop(self._commands_key(p), None)
        return True

    @staticmethod
    def _commands_key(p: JSON) -> str:
        scope = p.get("scope") or {"type": "default"}
        return f"{scope.get('type')}:{scope.get('chat_id', '')}:{scope.get('user_id', '')}:" \
               f"{p.get('language_code') or ''}"

    async def api_getChat(self, p: JSON) -> JSON:
        chat = self._chat(p, acting=False)
        info = chat.as_dict() | {"accent_color_id": 0, "max_reaction_count": 11,
                                 "accepted_gift_types": {
                                     "unlimited_gifts": False, "limited_gifts": False,
                                     "unique_gifts": False, "premium_subscription": False,
                                     "gifts_from_channels": False}}
        return info

    async def api_getChatMember(self, p: JSON) -> JSON:
        chat = self._chat(p, acting=False)
        user_id = int(p.get("user_id") or 0)
        if user_id == self.bot["id"]:
            user: JSON = self.bot_user()
        elif user_id in self._users:
            user = self._users[user_id].as_dict()
        else:
            raise bad("user not found")
        if chat.type == "private":
            return {"status": "member", "user": user}
        if user_id == chat.owner_id:
            return {"status": "creator", "user": user, "is_anonymous": False}
        if user_id in chat.admins:
            rights = dict.fromkeys(
                ("can_manage_chat", "can_delete_messages", "can_manage_video_chats",
                 "can_restrict_members", "can_change_info", "can_invite_users",
                 "can_post_stories", "can_edit_stories", "can_delete_stories",
                 "can_pin_messages"), True)
            return {"status": "administrator", "user": user, "can_be_edited": False,
                    "is_anonymous": False, "can_promote_members": False} | rights
        if user_id in chat.members or user_id == self.bot["id"]:
            return {"status": "member", "user": user}
        return {"status": "left", "user": user}


async def _download(url: str, wanted: str) -> Upload:
    """Fetch a file sent by HTTP URL, as Telegram's servers would (only local URLs work)."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session, \
                session.get(url) as response:
            if not 200 <= response.status < 300:
                raise bad("failed to get HTTP URL content")
            data = await response.read()
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    except (TimeoutError, aiohttp.ClientError):
        raise bad("failed to get HTTP URL content") from None
    if not data or (wanted == "photo" and not content_type.startswith("image/")):
        raise bad("wrong type of the web page content")
    return Upload(url.rstrip("/").rsplit("/", 1)[-1] or None, content_type or None, data)
