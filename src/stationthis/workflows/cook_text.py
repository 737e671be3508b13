"""Cook traits written as text, read the same on every platform (the web's form, Telegram's
one line, Discord's form): one trait type per line (or per ``|`` part in chat)::

    animal: fox = red fox * 3, owl, cat
    place: forest, city * 0.5

``name = prompt * weight``: the prompt (default: the name) replaces ``[animal]`` in the master
prompt; the weight (default 1) is how often it is chosen. Blank lines and lines starting with
``#`` are skipped. JSON is read too: a list of trait types, or ``{type: [traits]}`` /
``{type: {trait: weight}}``."""

from __future__ import annotations

import json
from typing import Any

from stationthis.core.errors import InvalidInput


def parse_traits(text: str) -> list[dict[str, Any]]:
    """The trait types written in ``text`` (lines or JSON)."""
    text = text.strip()
    if not text:
        return []
    if text[0] in "[{":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"The traits are not valid JSON: {exc.msg} (line {exc.lineno})."
                               ) from None
        if isinstance(data, dict):
            return [{"name": k, "traits": [{"name": t, "weight": w} for t, w in v.items()]
                     if isinstance(v, dict) else v} for k, v in data.items()]
        return data if isinstance(data, list) else [data]
    found = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        found.append(trait_type(line, number))
    return found


def trait_type(line: str, number: int = 1) -> dict[str, Any]:
    """``type: trait, trait = prompt * weight, …`` as a trait type."""
    name, colon, rest = line.partition(":")
    if not colon or not name.strip() or not rest.strip():
        raise InvalidInput(f"Traits line {number} needs `type: trait, trait` "
                           f"(got {line.strip()!r}).")
    return {"name": name.strip(),
            "traits": [trait(item, number) for item in rest.split(",") if item.strip()]}


def trait(text: str, number: int = 1) -> dict[str, Any]:
    """``fox * 3`` (a weight), ``fox = red fox`` (its words in the prompt), or a plain name."""
    body, star, tail = text.rpartition("*")
    weight: float = 1
    if star:
        try:
            weight = float(tail)
        except ValueError:
            raise InvalidInput(f"Traits line {number}: the weight after * must be a number; "
                               f"{tail.strip()!r} is not a weight.") from None
        text = body
    name, _, prompt = text.partition("=")
    found: dict[str, Any] = {"name": name.strip(), "weight": weight}
    if prompt.strip():
        found["prompt"] = prompt.strip()
    return found
