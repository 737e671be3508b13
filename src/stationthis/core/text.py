"""Text that enters from outside must be valid Unicode.

A Python ``str`` can hold a lone surrogate (U+D800–U+DFFF): ``json.loads`` makes one from a
``"\\ud800"`` escape, and Python decodes undecodable command-line bytes into one
(``surrogateescape``). Such a string can be stored but never encoded as UTF-8 again, so every
page that shows it would fail. Each platform's intake (the web app's request decoding, the
Telegram and Discord update intake, the CLI's arguments) refuses such text once, at the edge,
with ``MESSAGE``; nothing behind the edge has to check again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .errors import InvalidInput

MESSAGE = "text must be valid Unicode (found a lone surrogate)"
NOT_UTF8 = "text must be valid Unicode (found bytes that are not UTF-8)"
_SURROGATE = re.compile("[\ud800-\udfff]")


class InvalidText(InvalidInput):
    code = "invalid_text"


def is_valid_text(text: str) -> bool:
    """Whether ``text`` can be encoded as UTF-8 (it holds no lone surrogate)."""
    return text.isascii() or _SURROGATE.search(text) is None


def invalid_text(value: object) -> str | None:
    """Why ``value`` — a string, or JSON-like data (dicts, lists) holding strings in its keys
    and values — is not valid text; None when it is."""
    return MESSAGE if _has_surrogate(value) else None


def check_text(value: object) -> None:
    """Raises ``InvalidText`` when ``invalid_text`` finds a problem."""
    problem = invalid_text(value)
    if problem is not None:
        raise InvalidText(problem)


def _has_surrogate(value: object) -> bool:
    stack = [value]  # iterative: nesting as deep as the parser allows is fine
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
