"""Text that enters from outside must be valid Unicode.

A Python ``str`` can hold a lone surrogate (U+D800–U+DFFF): ``json.loads`` makes one from a
``"\\ud800"`` escape, and Python decodes undecodable command-line bytes into one
(``surrogateescape``). Such a string can be stored but never encoded as UTF-8 again, so every
page that shows it would fail. Each platform's intake (the web app's request decoding, the
Telegram and Discord update intake, the CLI's arguments) refuses such text once, at the edge,
with ``MESSAGE``; nothing behind the edge has to check again. ``load_json`` reads the
database's JSON columns: text stored before the edges refused surrogates reads back with
U+FFFD in their place, so old data cannot make a page fail either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

MESSAGE = "text must be valid Unicode (found a lone surrogate)"
NOT_UTF8 = "text must be valid Unicode (found bytes that are not UTF-8)"
_SURROGATE = re.compile("[\ud800-\udfff]")


def is_valid_text(text: str) -> bool:
    """Whether ``text`` can be encoded as UTF-8 (it holds no lone surrogate)."""
    return text.isascii() or _SURROGATE.search(text) is None


def invalid_text(value: object) -> str | None:
    """Why ``value`` — a string, or JSON-like data (dicts, lists) holding strings in its keys
    and values — is not valid text; None when it is."""
    return MESSAGE if _has_surrogate(value) else None


def load_json(text: str | bytes) -> Any:
    """``json.loads`` for what the database gives back: a lone surrogate stored before the
    edges refused them (JSON keeps it as a ``"\\ud800"`` escape) becomes U+FFFD, so old data
    can never make a page fail."""
    data = json.loads(text)
    escaped = b"\\u" in text if isinstance(text, bytes) else "\\u" in text
    if not escaped or not _has_surrogate(data):
        return data
    return _repaired(data)


def _repaired(value: Any) -> Any:
    if isinstance(value, str):
        return value if is_valid_text(value) else _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_repaired(k): _repaired(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_repaired(v) for v in value]
    return value


def _has_surrogate(value: object) -> bool:
    stack: list[object] = [value]  # iterative: nesting as deep as the parser allows is fine
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not is_valid_text(item):
                return True
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            stack.extend(item)
    return False
