"""Objects of the fake Telegram Bot API: errors, users, chats, stored files and keyboards.

Shapes follow the Bot API (https://core.telegram.org/bots/api): ``User``, ``Chat``,
``PhotoSize``, ``Document``, ``Sticker``, ``InlineKeyboardMarkup``. Files keep the exact bytes
they were made from so tests can compare what a bot downloads or sends.
"""

from __future__ import annotations

import io
import itertools
import json
import mimetypes
import re
import secrets
import time
import warnings
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

JSON = dict[str, Any]

MAX_PHOTO_BYTES = 10 * 1024 * 1024
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
THUMB_SIDE = 320
_FILE_PREFIX = {"photo": "AgACAgIAAxkBAAI", "document": "BQACAgIAAxkBAAI",
                "sticker": "CAACAgIAAxkBAAI"}
_FOLDER = {"photo": "photos", "document": "documents", "sticker": "stickers"}


class ApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code", "description"[, "parameters"]}``."""

    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def flood(retry_after: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {retry_after}",
                    {"retry_after": retry_after})


@dataclass(eq=False)
class FakeChat:
    """A chat as Telegram keeps it: its messages (after edits and deletes) and its members."""

    id: int
    type: str  # "private", "group" or "supergroup"
    title: str | None = None
    first_name: str | None = None
    username: str | None = None
    admins: set[int] = field(default_factory=set)  # user ids; add the bot's id to make it admin
    members: set[int] = field(default_factory=set)
    owner_id: int | None = None
    messages: dict[int, JSON] = field(default_factory=dict)
    reply_keyboard: JSON | None = None  # a custom (reply) keyboard the user currently sees
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def as_dict(self) -> JSON:
        chat: JSON = {"id": self.id, "type": self.type}
        if self.title is not None:
            chat["title"] = self.title
        if self.first_name is not None:
            chat["first_name"] = self.first_name
        if self.username is not None:
            chat["username"] = self.username
        return chat

    def next_message_id(self) -> int:
        return next(self._ids)


@dataclass(eq=False)
class FakeUser:
    """A Telegram user the test plays. ``started``: has opened a private chat with the bot
    (set by any private message); ``blocked``: has blocked the bot (sends answer 403)."""

    id: int
    first_name: str = "Alice"
    username: str | None = None
    last_name: str | None = None
    language_code: str | None = "en"
    started: bool = False
    blocked: bool = False
    private_chat: FakeChat = field(init=False)

    def __post_init__(self) -> None:
        self.private_chat = FakeChat(self.id, "private", first_name=self.first_name,
                                     username=self.username)

    def as_dict(self) -> JSON:
        user: JSON = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key) is not None:
                user[key] = getattr(self, key)
        return user


@dataclass
class Upload:
    """A multipart file part as received."""

    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str  # "photo", "document" or "sticker"
    data: bytes
    mime_type: str | None = None
    file_name: str | None = None
    width: int | None = None
    height: int | None = None
    file_path: str | None = None  # assigned by getFile
    photo: list[JSON] | None = None  # every size of the photo this file belongs to

    @property
    def file_size(self) -> int:
        return len(self.data)


def probe_image(data: bytes) -> tuple[int, int, str] | None:
    """``(width, height, format)`` from the image header, without decoding pixels."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                return image.width, image.height, str(image.format)
    except Exception:  # any unreadable header: Telegram's IMAGE_PROCESS_FAILED
        return None


def _thumbnail(data: bytes, width: int, height: int) -> bytes | None:
    if width * height > 40_000_000:  # not worth decoding (and maybe a decompression bomb)
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.thumbnail((THUMB_SIDE, THUMB_SIDE))
                buffer = io.BytesIO()
                image.convert("RGB").save(buffer, "JPEG", quality=80)
                return buffer.getvalue()
    except Exception:
        return None


def sticker_webp() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGBA", (512, 512), (255, 200, 0, 255)).save(buffer, "WEBP")
    return buffer.getvalue()


class FileStore:
    """Every file Telegram knows: uploads by bots, files sent by users, their photo sizes."""

    def __init__(self) -> None:
        self.by_id: dict[str, StoredFile] = {}
        self._paths: dict[str, StoredFile] = {}
        self._counter = itertools.count()

    def add(self, kind: str, data: bytes, **meta: Any) -> StoredFile:
        stored = StoredFile(_FILE_PREFIX[kind] + secrets.token_urlsafe(40),
                            "AQAD" + secrets.token_urlsafe(10), kind, bytes(data), **meta)
        self.by_id[stored.file_id] = stored
        return stored

    def add_photo(self, data: bytes) -> list[JSON]:
        """The ``PhotoSize`` list ``[small, large]``: a ≤320 px JPEG and the original bytes."""
        probe = probe_image(data)
        if probe is None:
            raise bad("IMAGE_PROCESS_FAILED")
        width, height, _ = probe
        if width + height > 10000 or max(width, height) > 20 * min(width, height):
            raise bad("PHOTO_INVALID_DIMENSIONS")
        small = _thumbnail(data, width, height)
        scale = min(1.0, THUMB_SIDE / max(width, height))
        sizes: list[JSON] = []
        variants = [(small if small is not None else data,
                     max(1, round(width * scale)), max(1, round(height * scale))),
                    (data, width, height)]
        for variant, w, h in variants:
            stored = self.add("photo", variant, mime_type="image/jpeg", width=w, height=h)
            sizes.append({"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                          "file_size": stored.file_size, "width": w, "height": h})
        for size in sizes:
            self.by_id[size["file_id"]].photo = sizes
        return [dict(size) for size in sizes]

    def add_document(self, data: bytes, file_name: str | None, mime_type: str | None) -> JSON:
        if not data:
            raise bad("file must be non-empty")
        name = (file_name or "file").replace("/", "_").replace("\\", "_")
        mime = mime_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        stored = self.add("document", data, file_name=name, mime_type=mime)
        return document_dict(stored)

    def add_sticker(self) -> JSON:
        stored = self.add("sticker", sticker_webp(), mime_type="image/webp", width=512,
                          height=512)
        return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
                "type": "regular", "width": 512, "height": 512, "is_animated": False,
                "is_video": False, "emoji": "\U0001f600", "file_size": stored.file_size}

    def get(self, file_id: str) -> StoredFile | None:
        return self.by_id.get(file_id)

    def path_for(self, stored: StoredFile) -> str:
        if stored.file_path is None:
            extension = {"image/jpeg": ".jpg", "image/webp": ".webp"}.get(
                stored.mime_type or "", "")
            if stored.kind == "document":
                extension = "." + stored.file_name.rsplit(".", 1)[-1] if stored.file_name and \
                    "." in stored.file_name else ""
            stored.file_path = f"{_FOLDER[stored.kind]}/file_{next(self._counter)}{extension}"
            self._paths[stored.file_path] = stored
        return stored.file_path

    def by_path(self, path: str) -> StoredFile | None:
        return self._paths.get(path)


def document_dict(stored: StoredFile) -> JSON:
    return {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id,
            "file_name": stored.file_name, "mime_type": stored.mime_type,
            "file_size": stored.file_size}


_BUTTON_ACTIONS = ("url", "callback_data", "switch_inline_query",
                   "switch_inline_query_current_chat", "switch_inline_query_chosen_chat",
                   "callback_game", "pay", "login_url", "web_app", "copy_text")


def check_reply_markup(markup: Any) -> JSON:
    """Validate ``reply_markup`` the way the Bot API does (the parts bots commonly get wrong)."""
    if not isinstance(markup, dict):
        raise bad("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad('field "inline_keyboard" must be an Array of Arrays')
        for button in (b for row in rows for b in row):
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise bad("can't parse inline keyboard button: Text must be a String")
            if not any(key in button for key in _BUTTON_ACTIONS):
                raise bad("can't parse inline keyboard button: Text buttons are unallowed in "
                          "the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise bad("BUTTON_DATA_INVALID")
            url = button.get("url")
            if url is not None and not re.match(r"(https?|tg)://\S+$", str(url)):
                raise bad("BUTTON_URL_INVALID")
    elif not any(k in markup for k in ("keyboard", "remove_keyboard", "force_reply")):
        raise bad("can't parse reply keyboard markup JSON object")
    return markup


def now() -> int:
    return int(time.time())


# ---- request parameters -----------------------------------------------------------------
INT_PARAMS = {"message_id", "offset", "limit", "timeout", "user_id", "reply_to_message_id",
              "max_connections", "cache_time", "message_thread_id", "from_chat_id"}
BOOL_PARAMS = {"disable_notification", "protect_content", "show_alert", "drop_pending_updates",
               "allow_sending_without_reply", "has_spoiler", "disable_web_page_preview",
               "disable_content_type_detection", "show_caption_above_media"}
JSON_PARAMS = {"reply_markup", "media", "allowed_updates", "commands", "entities",
               "caption_entities", "reply_parameters", "link_preview_options", "scope",
               "message_ids"}
FILE_PARAMS = ("photo", "document", "sticker", "video", "audio", "animation", "voice",
               "thumbnail", "certificate")


def plain(value: Any) -> Any:
    """Parameters as recorded in a ``Call``: uploads replaced by their bytes."""
    if isinstance(value, Upload):
        return value.data
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def coerce_params(params: JSON) -> None:
    """Type string parameters as the Bot API reads them (form fields are all strings)."""
    for key, value in list(params.items()):
        if not isinstance(value, str):
            continue
        if key == "chat_id" and re.fullmatch(r"-?\d+", value):
            params[key] = int(value)
        elif key in INT_PARAMS:
            try:
                params[key] = int(value)
            except ValueError:
                raise bad(f"invalid {key} specified") from None
        elif key in BOOL_PARAMS:
            params[key] = value.lower() in ("true", "1")
        elif key in JSON_PARAMS:
            try:
                params[key] = json.loads(value)
            except ValueError:
                raise bad(f"can't parse {key} JSON object") from None


def attach_uploads(params: JSON, uploads: dict[str, Upload]) -> None:
    """Put uploaded parts where they belong: ``photo=<part>`` or ``attach://<part>``."""

    def resolve(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("attach://"):
            return uploads.get(value.removeprefix("attach://"), value)
        return value

    for name in FILE_PARAMS:
        if name in params:
            params[name] = resolve(params[name])
        elif name in uploads:
            params[name] = uploads[name]
    media = params.get("media")
    for item in media if isinstance(media, list) else [media]:
        if isinstance(item, dict):
            for key in ("media", "thumbnail"):
                if key in item:
                    item[key] = resolve(item[key])
