"""The users and chats a test plays against the fake Telegram Bot API.

Each user action stores the message in its chat (what users see) and queues the ``Update``
the bot receives — unless Telegram would not deliver it: a bot in privacy mode (the default,
``can_read_all_group_messages=False``) only gets group messages that are commands for it or
replies to its messages; those go to ``withheld`` with the reason instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import itertools
import secrets
from typing import Any

from tests.support.fake_telegram_format import finish_entities
from tests.support.fake_telegram_methods import BotMethods
from tests.support.fake_telegram_objects import JSON, ApiError, FakeChat, FakeUser, now

DEFAULT_UPDATES = {"message", "edited_message", "callback_query"}


def _utf16_slice(text: str, offset: int, length: int) -> str:
    # surrogatepass: a lone surrogate is one code unit, as Telegram counts it (tests send one)
    raw = text.encode("utf-16-le", "surrogatepass")
    return raw[offset * 2:(offset + length) * 2].decode("utf-16-le", "surrogatepass")


class UserPlay(BotMethods):
    """Users, groups and the queue of updates they produce."""

    def __init__(self, bot: JSON) -> None:
        super().__init__(bot)
        self.withheld: list[tuple[JSON, str]] = []  # (update, why the bot never got it)
        self._queue: list[JSON] = []
        self._update_ids = itertools.count(secrets.randbelow(10**6) * 100 + 1)
        self._allowed_updates: set[str] | None = None
        self._chat_instances: dict[int, str] = {}
        self._changed = asyncio.Event()

    @property
    def pending_updates(self) -> list[JSON]:
        """Updates queued and not yet confirmed (polling) or delivered (webhook)."""
        return copy.deepcopy(self._queue)

    def messages_in(self, chat: int | FakeChat | FakeUser) -> list[JSON]:
        """What a user sees in the chat now (after edits and deletes), oldest first."""
        chat_id = chat if isinstance(chat, int) else chat.id
        return [copy.deepcopy(m) for _, m in sorted(self._chats[chat_id].messages.items())]

    def callback_answer(self, update: JSON) -> JSON | None:
        """How the bot answered the callback query of ``update`` (None: not answered)."""
        query = self._callbacks[update["callback_query"]["id"]]
        return dict(query["answer"]) if query["answered"] else None

    def user(self, id: int, first_name: str = "Alice", username: str | None = None,
             **fields: Any) -> FakeUser:
        """A user (the same object for the same id); ``fields`` as in :class:`FakeUser`."""
        if id not in self._users:
            user = FakeUser(id, first_name, username, **fields)
            self._users[id] = user
            self._chats[id] = user.private_chat
        return self._users[id]

    def group(self, id: int, title: str, *, username: str | None = None) -> FakeChat:
        """A group the bot is in (ids from -1000000000000 down are supergroups)."""
        if id >= 0:
            raise ValueError("group chat ids are negative")
        if id not in self._chats:
            kind = "supergroup" if id <= -1_000_000_000_000 else "group"
            self._chats[id] = FakeChat(id, kind, title=title, username=username)
        return self._chats[id]

    def send_text(self, user: FakeUser, text: str, chat: FakeChat | None = None,
                  reply_to: int | JSON | None = None) -> JSON:
        """The user writes ``text`` (in their private chat unless ``chat``); returns the Update.
        Commands, mentions, hashtags and URLs get their entities, as Telegram's apps send them."""
        entities = finish_entities(text, [])
        return self._from_user(user, chat, {"text": text} | (
            {"entities": entities} if entities else {}), reply_to)

    def send_photo(self, user: FakeUser, image_bytes: bytes, caption: str | None = None,
                   chat: FakeChat | None = None, reply_to: int | JSON | None = None,
                   media_group_id: str | None = None) -> JSON:
        """The user sends a photo: sizes ``[≤320 px JPEG, original bytes]``, each a file the
        bot can getFile. Items of one album share ``media_group_id`` (one update each)."""
        try:
            content: JSON = {"photo": self.files.add_photo(image_bytes)}
        except ApiError as error:
            raise ValueError(f"Telegram would not take this as a photo: {error}") from None
        if media_group_id is not None:
            content["media_group_id"] = str(media_group_id)
        return self._from_user(user, chat, content | self._user_caption(caption), reply_to)

    def send_document(self, user: FakeUser, data: bytes, file_name: str, mime_type: str,
                      caption: str | None = None, chat: FakeChat | None = None) -> JSON:
        document = self.files.add_document(data, file_name, mime_type)
        return self._from_user(user, chat, {"document": document} | self._user_caption(caption))

    def send_sticker(self, user: FakeUser, chat: FakeChat | None = None) -> JSON:
        return self._from_user(user, chat, {"sticker": self.files.add_sticker()})

    def edit_text(self, user: FakeUser, message: JSON, text: str) -> JSON:
        """The user edits one of their text messages: an ``edited_message`` update."""
        chat = self._chats[message["chat"]["id"]]
        current = chat.messages.get(message["message_id"])
        if current is None or current["from"]["id"] != user.id or "text" not in current:
            raise ValueError("users can only edit their own text messages that still exist")
        entities = finish_entities(text, [])
        current.pop("entities", None)
        current.update({"text": text, "edit_date": now()} | (
            {"entities": entities} if entities else {}))
        return self._enqueue("edited_message", current, chat)

    def press(self, user: FakeUser, message: JSON, callback_data: str) -> JSON:
        """The user taps an inline button of one of the bot's messages (as it is now)."""
        chat = self._chats[message["chat"]["id"]]
        current = chat.messages.get(message["message_id"])
        if current is None or current["from"]["id"] != self.bot["id"]:
            raise ValueError("users can only press buttons of the bot's messages that exist")
        rows = current.get("reply_markup", {}).get("inline_keyboard", [])
        offered = [b.get("callback_data") for row in rows for b in row]
        if callback_data not in offered:
            raise ValueError(f"no button with callback_data {callback_data!r}; the message "
                             f"offers {offered}")
        query_id = str(secrets.randbits(63))
        self._callbacks[query_id] = {"answered": False, "user_id": user.id, "answer": {}}
        query = {"id": query_id, "from": user.as_dict(), "message": copy.deepcopy(current),
                 "chat_instance": self._chat_instances.setdefault(chat.id,
                                                                  str(secrets.randbits(63))),
                 "data": callback_data}
        return self._enqueue("callback_query", query, chat)

    def _user_caption(self, caption: str | None) -> JSON:
        if not caption:
            return {}
        entities = finish_entities(caption, [])
        return {"caption": caption} | ({"caption_entities": entities} if entities else {})

    def _from_user(self, user: FakeUser, chat: FakeChat | None, content: JSON,
                   reply_to: int | JSON | None = None) -> JSON:
        chat = chat or user.private_chat
        if self._chats.get(chat.id) is not chat:
            raise ValueError(f"chat {chat.id} was not made by this FakeTelegram")
        if chat.type == "private":
            if chat.id != user.id:
                raise ValueError("a user can only write in their own private chat")
            user.started = True
        else:
            chat.members.add(user.id)
        reply = None
        if reply_to is not None:
            reply_id = reply_to if isinstance(reply_to, int) else reply_to["message_id"]
            if reply_id not in chat.messages:
                raise ValueError(f"no message {reply_id} in chat {chat.id} to reply to")
            reply = {k: v for k, v in chat.messages[reply_id].items() if k != "reply_to_message"}
        message = self.store_message(chat, user.as_dict(), content, reply)
        return self._enqueue("message", message, chat)

    def _enqueue(self, kind: str, payload: JSON, chat: FakeChat) -> JSON:
        update = {"update_id": next(self._update_ids), kind: copy.deepcopy(payload)}
        allowed = self._allowed_updates or DEFAULT_UPDATES
        reason = (f"{kind} is not in allowed_updates" if kind not in allowed else
                  self._privacy_reason(chat, payload) if kind != "callback_query" else None)
        if reason:
            self.withheld.append((copy.deepcopy(update), reason))
        else:
            self._queue.append(update)
            self._notify()
        return copy.deepcopy(update)

    def _privacy_reason(self, chat: FakeChat, message: JSON) -> str | None:
        """Why a bot in privacy mode would not receive this group message (None: it would)."""
        if chat.type == "private" or self.bot["can_read_all_group_messages"] or \
                self.bot["id"] in chat.admins:
            return None
        for text_key, entities_key in (("text", "entities"), ("caption", "caption_entities")):
            for entity in message.get(entities_key, []):
                if entity["type"] == "bot_command":
                    command = _utf16_slice(message[text_key], entity["offset"], entity["length"])
                    target = command.partition("@")[2]
                    if not target or target.lower() == self.bot["username"].lower():
                        return None
        reply = message.get("reply_to_message")
        if reply and reply.get("from", {}).get("id") == self.bot["id"]:
            return None
        return "privacy mode: not a command for the bot nor a reply to it"

    # ---- change notification ---------------------------------------------------------------
    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_changed(self, timeout: float) -> None:
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
