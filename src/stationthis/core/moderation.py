"""Moderation: a prompt filter applied before any cost or GPU time.

Blocked *words* (and phrases) match whole words, whatever the case, accents, punctuation
around or inside them (``G.O.R.E``, ``g o r e``), zero-width characters, and simple
leetspeak (``g0r3``). Words inside longer words do not match (``scunthorpe`` stays allowed
when ``cunt`` is blocked): use a blocked *pattern* for that. Patterns are regular
expressions searched case-insensitively in the text as written and in its normalised form.

A refusal never echoes the blocked term in full: it would hand the list of banned words to
anyone who probes for it, and some of them are not fit to print.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import Forbidden

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t",
                       "@": "a", "$": "s"})
_TOKEN = re.compile(r"[^\W_]+")


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """A blocked pattern, compiled; ``ValueError`` naming it when it is not a valid regex."""
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        raise ValueError(
            f"{pattern!r} is not a valid regular expression ({exc.msg}{where})"
        ) from None


@dataclass(frozen=True)
class _Word:
    shown: str  # masked, for messages
    forms: tuple[tuple[str, ...], ...]  # as words; a phrase also written as one word
    leet: tuple[tuple[str, ...], ...]
    joined: str  # written as one word, to find among spelt-out letters
    leet_joined: str


def _forms(words: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    return (words, ("".join(words),)) if len(words) > 1 else (words,)


class PromptFilter:
    """Refuses prompts that contain a blocked word or match a blocked pattern."""

    def __init__(self, words: Iterable[str] = (), patterns: Iterable[str] = ()) -> None:
        self._words: list[_Word] = []
        for word in words:
            plain, leet = _tokens(word), _tokens(word.translate(_LEET))
            if plain:
                self._words.append(_Word(_mask(" ".join(plain)), _forms(plain), _forms(leet),
                                         "".join(plain), "".join(leet)))
        self._patterns = [compile_pattern(p) for p in patterns if p]

    @property
    def enabled(self) -> bool:
        return bool(self._words or self._patterns)

    def check(self, text: str | None, *, field: str = "prompt") -> None:
        """Raise ``Forbidden`` when ``text`` is not allowed; ``field`` names it in the message."""
        if not text or not self.enabled:
            return
        reason = self.reason(text)
        if reason is None:
            return
        label = {"negative": "negative prompt"}.get(field, field.replace("_", " "))
        where = "" if field == "prompt" else f" in the {label}"
        raise Forbidden(f"this prompt is not allowed here ({reason}{where})", input=field)

    def reason(self, text: str) -> str | None:
        """Why ``text`` is blocked (without the blocked term in full), or None."""
        plain = _tokens(text)
        leet = _tokens(text.translate(_LEET))
        forms = (plain, _collapse(plain))
        leet_forms = (leet, _collapse(leet))
        spelt = _runs(plain) + _runs(leet)  # "a g.o.r.e" → "agore": look inside
        for word in self._words:
            if (_found(forms, word.forms) or _found(leet_forms, word.leet)
                    or any(word.joined in run or word.leet_joined in run for run in spelt)):
                return f"it contains the blocked word {word.shown}"
        for pattern in self._patterns:
            if pattern.search(text) or any(pattern.search(" ".join(f)) for f in forms):
                return "it matches a blocked pattern"
        return None


def _tokens(text: str) -> tuple[str, ...]:
    """Words of ``text``: case-folded, without accents or invisible characters."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(ch for ch in decomposed if unicodedata.category(ch) not in ("Mn", "Cf"))
    return tuple(_TOKEN.findall(kept.casefold()))


def _collapse(words: tuple[str, ...]) -> tuple[str, ...]:
    """Runs of single letters joined into one word: ``g.o.r.e`` and ``g o r e`` → ``gore``."""
    out: list[str] = []
    run: list[str] = []
    for word in [*words, ""]:
        if len(word) == 1:
            run.append(word)
            continue
        if run:
            out.append("".join(run))
        run = []
        if word:
            out.append(word)
    return tuple(out)


def _runs(words: tuple[str, ...]) -> list[str]:
    """Runs of two or more single letters (``g.o.r.e``), each joined into one string."""
    runs: list[str] = []
    run = ""
    for word in [*words, ""]:
        if len(word) == 1:
            run += word
            continue
        if len(run) > 1:
            runs.append(run)
        run = ""
    return runs


def _found(
    texts: tuple[tuple[str, ...], ...], phrases: tuple[tuple[str, ...], ...]
) -> bool:
    return any(_contains(text, phrase) for text in texts for phrase in phrases)


def _contains(tokens: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    if not phrase:
        return False
    n = len(phrase)
    return any(tokens[i:i + n] == phrase for i in range(len(tokens) - n + 1))


def _mask(word: str) -> str:
    """``gore`` → ``“g***”``: enough to recognise, not enough to read."""
    return f"“{word[0]}{'*' * (len(word) - 1)}”"
