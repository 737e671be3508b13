"""Moderation: a prompt filter applied before any cost or GPU time.

Every prompt is *normalised* before it is matched, so the usual evasions fail:

- case and accents: ``GÖRE`` → ``gore`` (NFKD, combining marks dropped, case-folded);
  fullwidth and other compatibility forms too (``ｇｏｒｅ``);
- look-alike letters from other scripts: Cyrillic ``gоrе`` (``о``, ``е``), Greek ``ο``, ``α``…
  (``CONFUSABLES``: a small map of the letters that pass for Latin ones);
- leetspeak: ``g0r3``, ``bl00d``, ``@ss``, ``$ex``, ``b1ood`` (``1`` read as ``i`` and as ``l``);
- separators inside a word: ``bl.o.o.d``, ``b-l-o-o-d``, ``b_l_o_o_d``, zero-width characters
  (dropped), and letters spelt out with spaces (``b l o o d``).

Blocked *words* (and phrases) match **whole words** of the normalised text: blocked ``ass``
refuses ``ass``, ``a.s.s``, ``@$$`` and ``a s s``, but not ``class``, ``assassin`` or
``bass``, and blocked ``cunt`` leaves ``scunthorpe`` alone. Two rules decide where a word
ends once separators are removed:

- inside one whitespace-free chunk, punctuation between parts joins them (``bl.o.o.d`` →
  ``blood``), as long as at least one part is a single letter (``well-known`` stays two
  words);
- across spaces, only runs of single letters are joined (``b l o o d`` → ``blood``), and a
  blocked word found *anywhere* inside such a run counts (``a g o r e`` is spelt-out
  ``gore``): letters spelt one by one are already an evasion. So ``c l a s s`` is refused
  when ``ass`` is blocked, while ``class`` is not.

Use a blocked *pattern* to catch a word inside longer words. Patterns are regular
expressions searched case-insensitively in the text as written and in its normalised forms.

A refusal never echoes the blocked term in full: it would hand the list of banned words to
anyone who probes for it, and some of them are not fit to print. ``match`` names the rule
for the moderation log, which only admins see.

The filter's rules can be replaced while it runs (``set_extra``: the words and patterns
added from the admin console, core/moderation_rules.py); ``on_refusal``, when set, is called
with every refusal (the log of refused prompts).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from stationthis.core.errors import Forbidden

# Letters of other scripts that look like Latin ones (after case-folding), and a few symbols.
CONFUSABLES = str.maketrans({
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "ё": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ї": "i", "ј": "j", "ԁ": "d",
    "ɡ": "g", "ԛ": "q", "ԝ": "w", "ь": "b", "һ": "h", "ӏ": "l",
    # Greek
    "α": "a", "β": "b", "γ": "y", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ω": "w", "ς": "s", "σ": "o", "μ": "u",
    # Latin look-alikes that NFKD leaves alone
    "ı": "i", "ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ŧ": "t", "ß": "ss", "æ": "ae",
    "œ": "oe", "ĸ": "k",
})
# Leetspeak: digits and symbols written for letters. ``1`` and ``|`` are read both ways.
_LEET_COMMON = {"0": "o", "3": "e", "4": "a", "5": "s", "6": "g", "7": "t", "8": "b",
                "9": "g", "@": "a", "$": "s", "!": "i", "+": "t", "€": "e"}
LEET = (str.maketrans({**_LEET_COMMON, "1": "i", "|": "i"}),
        str.maketrans({**_LEET_COMMON, "1": "l", "|": "l"}))
_TOKEN = re.compile(r"[^\W_]+")
_CHUNK = re.compile(r"\S+")


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
class Match:
    """Why a text is refused: the rule (for admins) and a masked form (for the user)."""

    kind: str  # word | pattern
    rule: str  # the blocked word or pattern as configured
    shown: str  # what the user may see

    @property
    def reason(self) -> str:
        if self.kind == "word":
            return f"it contains the blocked word {self.shown}"
        return "it matches a blocked pattern"


@dataclass(frozen=True)
class Refusal:
    text: str
    field: str
    match: Match
    who: str | None  # the account refused, when the caller named it


@dataclass(frozen=True)
class _Word:
    rule: str
    shown: str  # masked, for messages
    phrases: tuple[tuple[str, ...], ...]  # as words; a phrase also written as one word
    joined: str  # written as one word, to find among spelt-out letters


@dataclass(frozen=True)
class _Forms:
    """A text's normalised readings: word lists, and runs of spelt-out letters."""

    words: tuple[tuple[str, ...], ...]
    runs: tuple[str, ...]


class PromptFilter:
    """Refuses prompts that contain a blocked word or match a blocked pattern."""

    def __init__(self, words: Iterable[str] = (), patterns: Iterable[str] = ()) -> None:
        self._base_words = [w for w in words if w.strip()]
        self._base_patterns = [p for p in patterns if p]
        self._words: list[_Word] = []
        self._patterns: list[tuple[str, re.Pattern[str]]] = []
        self.on_refusal: Callable[[Refusal], None] | None = None
        self.set_extra()

    def set_extra(self, words: Iterable[str] = (), patterns: Iterable[str] = ()) -> None:
        """Use the configured rules plus these (replacing the extras set before)."""
        compiled = [(p, compile_pattern(p)) for p in [*self._base_patterns, *patterns] if p]
        found: list[_Word] = []
        seen: set[tuple[tuple[str, ...], ...]] = set()
        for word in [*self._base_words, *words]:
            plain = _tokens(_fold(word))
            phrases = tuple(sorted({plain, ("".join(plain),)}))
            if not plain or phrases in seen:
                continue
            seen.add(phrases)
            found.append(_Word(word.strip(), _mask(" ".join(plain)), phrases, "".join(plain)))
        self._words, self._patterns = found, compiled

    @property
    def enabled(self) -> bool:
        return bool(self._words or self._patterns)

    @property
    def rules(self) -> tuple[list[str], list[str]]:
        """The words and patterns in force (configured and added)."""
        return [w.rule for w in self._words], [p for p, _ in self._patterns]

    def check(self, text: str | None, *, field: str = "prompt", who: str | None = None) -> None:
        """Raise ``Forbidden`` when ``text`` is not allowed; ``field`` names it in the message,
        ``who`` (an account id) goes to the log of refusals."""
        if not text or not self.enabled:
            return
        found = self.match(text)
        if found is None:
            return
        if self.on_refusal is not None:
            self.on_refusal(Refusal(text, field, found, who))
        label = {"negative": "negative prompt"}.get(field, field.replace("_", " "))
        where = "" if field == "prompt" else f" in the {label}"
        raise Forbidden(f"this prompt is not allowed here ({found.reason}{where})", input=field)

    def reason(self, text: str) -> str | None:
        """Why ``text`` is blocked (without the blocked term in full), or None."""
        found = self.match(text)
        return found.reason if found is not None else None

    def match(self, text: str) -> Match | None:
        """The first rule ``text`` breaks, or None."""
        if not text or not self.enabled:
            return None
        forms = _forms(text)
        for word in self._words:
            if (any(_contains(words, phrase) for words in forms.words for phrase in word.phrases)
                    or any(word.joined in run for run in forms.runs)):
                return Match("word", word.rule, word.shown)
        for rule, pattern in self._patterns:
            if pattern.search(text) or any(pattern.search(" ".join(w)) for w in forms.words):
                return Match("pattern", rule, "a blocked pattern")
        return None


def normalise(text: str) -> str:
    """``text`` as the filter reads it (case, accents, look-alikes; no leetspeak)."""
    return " ".join(_tokens(_fold(text)))


def _fold(text: str) -> str:
    """Case-folded, without accents or invisible characters, look-alike letters mapped."""
    decomposed = unicodedata.normalize("NFKD", text)
    kept = "".join(ch for ch in decomposed if unicodedata.category(ch) not in ("Mn", "Cf"))
    return unicodedata.normalize("NFKC", kept.casefold().translate(CONFUSABLES))


def _forms(text: str) -> _Forms:
    folded = _fold(text)
    readings = {folded, *(folded.translate(leet) for leet in LEET)}
    words: set[tuple[str, ...]] = set()
    runs: set[str] = set()
    for reading in readings:
        plain = _tokens(reading)
        joined = _joined_chunks(reading)
        words.update({plain, _collapse(plain), joined, _collapse(joined)})
        runs.update(_runs(plain))
    return _Forms(tuple(words), tuple(runs))


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(_TOKEN.findall(text))


def _joined_chunks(text: str) -> tuple[str, ...]:
    """Words with separators inside a chunk removed when a part is a single letter:
    ``bl.o.o.d`` → ``blood``; ``well-known`` stays ``well``, ``known``."""
    out: list[str] = []
    for chunk in _CHUNK.findall(text):
        parts = _tokens(chunk)
        if len(parts) > 1 and any(len(p) == 1 for p in parts):
            out.append("".join(parts))
        else:
            out.extend(parts)
    return tuple(out)


def _collapse(words: tuple[str, ...]) -> tuple[str, ...]:
    """Runs of single letters joined into one word: ``g o r e`` → ``gore``."""
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
    """Runs of two or more single letters (``g o r e``), each joined into one string."""
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


def _contains(tokens: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    if not phrase:
        return False
    n = len(phrase)
    return any(tokens[i:i + n] == phrase for i in range(len(tokens) - n + 1))


def _mask(word: str) -> str:
    """``gore`` → ``“g***”``: enough to recognise, not enough to read."""
    return f"“{word[0]}{'*' * (len(word) - 1)}”"
