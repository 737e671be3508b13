"""Wildcards in a prompt, drawn reproducibly with cook mode's weighted pick.

- ``{fox|wolf|owl}``: one of the choices; ``{fox:3|wolf}`` weights them (fox three times as
  likely as wolf; a choice without a weight weighs 1). Braces without a ``|`` are plain text.
- ``__colours__``: one item of the saved list ``colours`` (the user's, else their group's);
  an item may itself hold wildcards, drawn in turn — at most ``MAX_DEPTH`` levels deep and
  ``MAX_DRAWS`` draws in all, so a list that names itself is an error, never a hang.

``expand`` is pure: the same text, lists and seed give the same prompt and the same draws.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stationthis.core.collections_traits import weighted_pick
from stationthis.core.errors import InvalidInput

MAX_DEPTH = 5
MAX_DRAWS = 200
MAX_ITEMS = 500
ITEM_MAX = 300
CHOICE = re.compile(r"\{([^{}]*\|[^{}]*)\}")
LIST = re.compile(r"__([A-Za-z0-9](?:[A-Za-z0-9-]|_(?!_))*)__")
_ANY = re.compile(f"{CHOICE.pattern}|{LIST.pattern}")
_WEIGHT = re.compile(r"^(.*\S)\s*:\s*(\d+(?:\.\d+)?)$", re.DOTALL)


@dataclass(frozen=True)
class Item:
    value: str
    weight: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"value": self.value, "weight": self.weight}


@dataclass(frozen=True)
class Drawn:
    """One draw: what was written (``{fox|wolf}``, ``__colours__``) and what it became."""

    source: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"source": self.source, "value": self.value}


def has_wildcards(text: str) -> bool:
    return _ANY.search(text) is not None


def lists_named(text: str) -> set[str]:
    """The list names ``text`` uses directly (lowercase)."""
    return {m.lower() for m in LIST.findall(text)}


def parse_item(raw: Any) -> Item:
    """``"red"``, ``"red:3"`` or ``{"value": "red", "weight": 3}``."""
    if isinstance(raw, dict):
        value, weight = raw.get("value"), raw.get("weight", 1)
    elif isinstance(raw, str):
        found = _WEIGHT.match(raw.strip())
        value, weight = (found.group(1), float(found.group(2))) if found else (raw, 1)
    else:
        raise InvalidInput("each item of a wildcard list is text (e.g. \"red\" or \"red:3\")")
    text = " ".join(str(value or "").split())
    if not text or len(text) > ITEM_MAX:
        raise InvalidInput(f"a wildcard item is 1–{ITEM_MAX} characters (got {text!r})")
    if (isinstance(weight, bool) or not isinstance(weight, int | float)
            or not math.isfinite(weight) or weight <= 0):
        raise InvalidInput(f"the weight of {text!r} must be a positive number (got {weight!r})")
    return Item(text, float(weight))


def parse_items(raw: Any) -> list[Item]:
    if isinstance(raw, str):
        raw = [part for part in re.split(r"[\n,]", raw) if part.strip()]
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("a wildcard list needs at least one item")
    if len(raw) > MAX_ITEMS:
        raise InvalidInput(f"a wildcard list holds at most {MAX_ITEMS} items (got {len(raw)})")
    return [parse_item(x) for x in raw]


def choices_of(body: str) -> list[Item]:
    """The weighted choices inside ``{…}`` (an empty choice is allowed: ``{red|}``)."""
    items = []
    for part in body.split("|"):
        found = _WEIGHT.match(part.strip())
        if found:
            items.append(Item(found.group(1).strip(), float(found.group(2)) or 1.0))
        else:
            items.append(Item(part.strip()))
    return items


def expand(text: str, lists: Mapping[str, Sequence[Item]], rng: random.Random
           ) -> tuple[str, list[Drawn]]:
    """``text`` with every wildcard drawn (left to right, innermost first), and the draws.
    An unknown list, nesting deeper than ``MAX_DEPTH`` or over ``MAX_DRAWS`` draws is an
    ``InvalidInput`` that says so."""
    drawn: list[Drawn] = []

    def draw(match: re.Match[str]) -> str:
        if len(drawn) >= MAX_DRAWS:
            raise InvalidInput(f"a prompt draws at most {MAX_DRAWS} wildcards", input="prompt")
        if match.group(1) is not None:
            items = choices_of(match.group(1))
        else:
            items = list(lists[match.group(2).lower()])
        pick = weighted_pick(rng, items, [i.weight for i in items])
        drawn.append(Drawn(match.group(0), pick.value))
        return pick.value

    for _level in range(MAX_DEPTH):
        if not has_wildcards(text):
            return " ".join(text.split()), drawn
        unknown = sorted(lists_named(text) - set(lists))
        if unknown:
            known = ", ".join(f"__{n}__" for n in sorted(lists)) or "none yet"
            raise InvalidInput(f"there is no wildcard list __{unknown[0]}__ (your lists: "
                               f"{known})", input="prompt", list=unknown[0])
        text = _ANY.sub(draw, text)
    if has_wildcards(text):
        raise InvalidInput(f"wildcards nest more than {MAX_DEPTH} levels deep (does a list "
                           "name itself?)", input="prompt")
    return " ".join(text.split()), drawn
