"""Text formatting for the fake Telegram Bot API: ``parse_mode`` and entities.

Telegram turns formatted text into plain ``text`` + ``entities`` (offsets and lengths in UTF-16
code units) and refuses malformed markup with ``400 Bad Request: can't parse entities: ...``.
This module does the same for ``HTML``, ``MarkdownV2`` and legacy ``Markdown`` so a bot's
escaping bugs fail here as they would against the real server. It also adds the entities
Telegram detects by itself (bot commands, mentions, hashtags, URLs).
"""

from __future__ import annotations

import html
import re
from typing import Any

JSON = dict[str, Any]

MDV2_RESERVED = set("_*[]()~`>#+-=|{}.!")
HTML_TAGS = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "span": "spoiler", "a": "text_link", "code": "code", "pre": "pre",
    "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}
_AUTO = [
    ("bot_command", re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z][A-Za-z0-9_]{2,31})?"
                               r"(?![\w/@])")),
    ("mention", re.compile(r"(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31}(?![\w@])")),
    ("hashtag", re.compile(r"(?<![\w#])#\w*[^\W\d]\w*")),
    ("url", re.compile(r"\bhttps?://[^\s<>\"']+[^\s<>\"'.,;:!?)]")),
]


class EntityParseError(ValueError):
    """Markup Telegram cannot parse; the message is the part after "can't parse entities: "."""


def u16len(text: str) -> int:
    """Length in UTF-16 code units, the unit of Telegram entity offsets."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode())


def auto_entities(text: str) -> list[JSON]:
    """The entities Telegram detects in plain text."""
    found: list[JSON] = []
    for kind, pattern in _AUTO:
        for match in pattern.finditer(text):
            found.append({"type": kind, "offset": u16len(text[: match.start()]),
                          "length": u16len(match.group())})
    return found


def _overlaps(entity: JSON, others: list[JSON]) -> bool:
    start, end = entity["offset"], entity["offset"] + entity["length"]
    return any(o["offset"] < end and start < o["offset"] + o["length"] for o in others)


def finish_entities(text: str, explicit: list[JSON]) -> list[JSON]:
    """Explicit entities plus the detected ones not inside code, pre or links, sorted."""
    opaque = [e for e in explicit if e["type"] in ("code", "pre", "text_link", "url")]
    detected = [e for e in auto_entities(text) if not _overlaps(e, opaque)]
    merged = [e for e in explicit if e["length"] > 0] + detected
    return sorted(merged, key=lambda e: (e["offset"], -e["length"]))


def format_text(text: str, parse_mode: str | None, entities: list[JSON] | None) -> tuple[
        str, list[JSON]]:
    """``(plain_text, entities)`` for a text or caption as Telegram would store it."""
    mode = (parse_mode or "").lower()
    if entities:
        return text, finish_entities(text, [dict(e) for e in entities])
    if mode == "html":
        return _Html(text).parse()
    if mode == "markdownv2":
        return _Markdown(text, v2=True).parse()
    if mode == "markdown":
        return _Markdown(text, v2=False).parse()
    if mode:
        raise EntityParseError(f"Unsupported parse_mode {parse_mode!r}")
    return text, finish_entities(text, [])


class _Builder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.length = 0  # UTF-16 units emitted
        self.entities: list[JSON] = []

    def emit(self, text: str) -> None:
        self.parts.append(text)
        self.length += u16len(text)

    def close(self, kind: str, start: int, **extra: Any) -> None:
        if self.length > start:
            self.entities.append({"type": kind, "offset": start, "length": self.length - start,
                                  **{k: v for k, v in extra.items() if v is not None}})

    def result(self) -> tuple[str, list[JSON]]:
        text = "".join(self.parts)
        return text, finish_entities(text, self.entities)


class _Html:
    """Telegram's HTML subset; ``&lt; &gt; &amp; &quot;`` and numeric references."""

    def __init__(self, source: str) -> None:
        self.src = source
        self.out = _Builder()
        self.stack: list[tuple[str, int, JSON]] = []  # (tag, start, extra)

    def parse(self) -> tuple[str, list[JSON]]:
        i = 0
        src = self.src
        while i < len(src):
            char = src[i]
            if char == "<":
                i = self._tag(i)
            elif char == "&":
                end = src.find(";", i)
                ref = src[i:end + 1] if end != -1 else ""
                if re.fullmatch(r"&(lt|gt|amp|quot|#\d+|#x[0-9a-fA-F]+);", ref):
                    self.out.emit(html.unescape(ref))
                    i = end + 1
                else:
                    self.out.emit("&")
                    i += 1
            else:
                nxt = min((p for p in (src.find("<", i), src.find("&", i)) if p != -1),
                          default=len(src))
                self.out.emit(src[i:nxt])
                i = nxt
        if self.stack:
            raise EntityParseError(
                f'Can\'t find end tag corresponding to start tag "{self.stack[-1][0]}"')
        return self.out.result()

    def _tag(self, i: int) -> int:
        src = self.src
        end = src.find(">", i)
        if end == -1:
            raise EntityParseError(f"Unclosed start tag at byte offset {byte_offset(src, i)}")
        body = src[i + 1:end]
        if body.startswith("/"):
            name = body[1:].strip().lower()
            if not self.stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {byte_offset(src, i)}")
            tag, start, extra = self.stack.pop()
            if name and name != tag:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {byte_offset(src, i)}, expected '
                    f'"</{tag}>", found "</{name}>"')
            self._close(tag, start, extra)
            return end + 1
        match = re.match(r"([a-zA-Z][a-zA-Z0-9-]*)", body)
        name = match.group(1).lower() if match else ""
        attrs = dict(re.findall(r'([a-zA-Z-]+)\s*=\s*"([^"]*)"', body))
        attrs.update(re.findall(r"([a-zA-Z-]+)\s*=\s*'([^']*)'", body))
        if name not in HTML_TAGS or (name == "span" and attrs.get("class") != "tg-spoiler"):
            raise EntityParseError(
                f'Unsupported start tag "{name}" at byte offset {byte_offset(src, i)}')
        self.stack.append((name, self.out.length, {k: html.unescape(v) for k, v in
                                                   attrs.items()}))
        return end + 1

    def _close(self, tag: str, start: int, attrs: JSON) -> None:
        kind = HTML_TAGS[tag]
        if tag == "code" and self.stack and self.stack[-1][0] == "pre":
            language = attrs.get("class", "").removeprefix("language-") or None
            self.stack[-1][2]["language"] = language
            return
        if kind == "text_link":
            url = attrs.get("href", "")
            user = re.fullmatch(r"tg://user\?id=(\d+)", url)
            if user:
                self.out.close("text_mention", start, user={"id": int(user.group(1)),
                                                            "is_bot": False, "first_name": ""})
            else:
                self.out.close("text_link", start, url=url)
        elif kind == "pre":
            self.out.close("pre", start, language=attrs.get("language"))
        elif kind == "blockquote" and "expandable" in attrs:
            self.out.close("expandable_blockquote", start)
        elif kind == "custom_emoji":
            self.out.close(kind, start, custom_emoji_id=attrs.get("emoji-id"))
        else:
            self.out.close(kind, start)


_MD_NAMES = {"bold": "Bold", "italic": "Italic", "underline": "Underline",
             "strikethrough": "Strikethrough", "spoiler": "Spoiler", "text_link": "TextUrl"}


class _Markdown:
    """MarkdownV2 (``v2=True``) or legacy Markdown."""

    def __init__(self, source: str, *, v2: bool) -> None:
        self.src = source
        self.v2 = v2
        self.out = _Builder()
        self.stack: list[tuple[str, int, int]] = []  # (kind, start, byte offset of marker)

    def _toggle(self, kind: str, i: int, width: int) -> int:
        if self.stack and self.stack[-1][0] == kind:
            _, start, _ = self.stack.pop()
            self.out.close(kind, start)
        elif not self.v2 and self.stack:  # legacy Markdown does not nest: a literal marker
            self.out.emit(self.src[i:i + width])
        elif any(k == kind for k, _, _ in self.stack):
            self._unclosed()
        else:
            self.stack.append((kind, self.out.length, byte_offset(self.src, i)))
        return i + width

    def _unclosed(self) -> None:
        kind, _, offset = self.stack[-1]
        if self.v2:
            raise EntityParseError(f"Can't find end of {_MD_NAMES[kind]} entity at byte "
                                   f"offset {offset}")
        raise EntityParseError(f"Can't find end of the entity starting at byte offset {offset}")

    def parse(self) -> tuple[str, list[JSON]]:
        src, i = self.src, 0
        markers = {"*": "bold", "_": "italic", "~": "strikethrough"} if self.v2 else {
            "*": "bold", "_": "italic"}
        while i < len(src):
            char = src[i]
            if char == "\\" and i + 1 < len(src) and (
                    (self.v2 and 0 < ord(src[i + 1]) < 127) or src[i + 1] in "_*`["):
                self.out.emit(src[i + 1])
                i += 2
            elif char == "`":
                i = self._code(i)
            elif self.v2 and src.startswith("__", i):
                i = self._toggle("underline", i, 2)
            elif self.v2 and src.startswith("||", i):
                i = self._toggle("spoiler", i, 2)
            elif char in markers:
                i = self._toggle(markers[char], i, 1)
            elif char == "[":
                self.stack.append(("text_link", self.out.length, byte_offset(src, i)))
                i += 1
            elif char == "]" and self.stack and self.stack[-1][0] == "text_link":
                i = self._link_target(i)
            elif self.v2 and char in MDV2_RESERVED:
                raise EntityParseError(f"Character '{char}' is reserved and must be escaped "
                                       "with the preceding '\\'")
            else:
                self.out.emit(char)
                i += 1
        if self.stack:
            self._unclosed()
        return self.out.result()

    def _code(self, i: int) -> int:
        src = self.src
        fence = "```" if src.startswith("```", i) else "`"
        j, body = i + len(fence), []
        while j < len(src) and not src.startswith(fence, j):
            if self.v2 and src[j] == "\\" and j + 1 < len(src) and src[j + 1] in "`\\":
                j += 1
            body.append(src[j])
            j += 1
        if j >= len(src):
            self.stack.append(("code", 0, byte_offset(src, i)))
            if self.v2:
                raise EntityParseError(f"Can't find end of {'Pre' if len(fence) == 3 else 'Code'}"
                                       f" entity at byte offset {byte_offset(src, i)}")
            self._unclosed()
        text, language = "".join(body), None
        if fence == "```":
            first, newline, rest = text.partition("\n")
            if newline and first and " " not in first:
                text, language = rest, first
        start = self.out.length
        self.out.emit(text)
        self.out.close("pre" if fence == "```" else "code", start, language=language)
        return j + len(fence)

    def _link_target(self, i: int) -> int:
        src = self.src
        _, start, offset = self.stack.pop()
        if not src.startswith("(", i + 1):
            if self.v2:
                raise EntityParseError("Character ']' is reserved and must be escaped with the "
                                       "preceding '\\'")
            self.out.emit("]")
            return i + 1
        close = src.find(")", i + 2)
        if close == -1:
            raise EntityParseError(f"Can't find end of a URL at byte offset {offset}")
        url = src[i + 2:close].replace("\\)", ")").replace("\\\\", "\\")
        user = re.fullmatch(r"tg://user\?id=(\d+)", url)
        if user:
            self.out.close("text_mention", start,
                           user={"id": int(user.group(1)), "is_bot": False, "first_name": ""})
        else:
            self.out.close("text_link", start, url=url)
        return close + 1
