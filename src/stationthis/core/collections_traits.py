"""Cook configuration: a master prompt with ``[trait]`` placeholders, trait types with weighted
traits, exclusions and a total supply — validated with clear messages, hashed so the same
configuration is recognised, and planned piece by piece deterministically from a seed.

    {"master_prompt": "a [animal] in [place]",
     "trait_types": [{"name": "animal", "traits": [{"name": "fox", "prompt": "red fox",
                                                    "weight": 3}, {"name": "owl"}]}, …],
     "exclusions": [["animal:fox", "place:ocean"]],   # never together
     "supply": 100, "seed": 7, "tool": "make", "options": {"width": 512}}
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from stationthis.core.errors import InvalidInput

PLACEHOLDER = re.compile(r"\[([^\[\]]+)\]")
PROMPT_MAX = 2000
NAME_MAX = 50
RESERVED_OPTIONS = ("prompt", "seed", "batch")
T = TypeVar("T")


@dataclass(frozen=True)
class Trait:
    name: str
    prompt: str
    weight: float


@dataclass(frozen=True)
class TraitType:
    name: str
    traits: tuple[Trait, ...]


@dataclass(frozen=True)
class PiecePlan:
    number: int
    attributes: list[dict[str, str]]  # [{trait_type, value}], in trait type order
    prompt: str
    seed: int


@dataclass(frozen=True)
class CookConfig:
    master_prompt: str
    trait_types: tuple[TraitType, ...]
    supply: int
    seed: int
    exclusions: tuple[tuple[str, str], ...] = ()
    tool: str = "make"
    options: dict[str, Any] = field(default_factory=dict)

    # ----- reading and writing -----------------------------------------------------------

    @classmethod
    def parse(cls, data: Any, *, max_supply: int, check: bool = True) -> CookConfig:
        """Validate a configuration; every problem is an ``InvalidInput`` naming the field.
        ``check`` also plans every piece (an exclusion may leave a trait type empty)."""
        if not isinstance(data, dict):
            raise InvalidInput("a cook configuration is an object (master_prompt, trait_types, "
                               "supply)")
        prompt = str(data.get("master_prompt") or "").strip()
        if not prompt:
            raise InvalidInput("the master prompt is empty")
        if len(prompt) > PROMPT_MAX:
            raise InvalidInput(f"the master prompt is at most {PROMPT_MAX} characters")
        types = tuple(_trait_type(t) for t in _list(data.get("trait_types"), "trait_types"))
        names = [t.name for t in types]
        for name in names:
            if names.count(name) > 1:
                raise InvalidInput(f"two trait types are named {name!r}")
        for used in PLACEHOLDER.findall(prompt):
            if used.strip() not in names:
                known = ", ".join(names) or "none"
                raise InvalidInput(f"the master prompt uses [{used}] but there is no trait type "
                                   f"named {used.strip()!r} (trait types: {known})")
        supply = data.get("supply")
        if isinstance(supply, bool) or not isinstance(supply, int) or supply < 1:
            raise InvalidInput("the supply must be a whole number of pieces, at least 1")
        if supply > max_supply:
            raise InvalidInput(f"a supply of {supply} is over the limit of {max_supply} pieces")
        seed = data.get("seed")
        if seed is None:
            seed = secrets.randbelow(2**31)
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
            raise InvalidInput("the seed must be a whole number ≥ 0")
        options = data.get("options") or {}
        if not isinstance(options, dict):
            raise InvalidInput("options must be an object (tool inputs such as width)")
        for key in RESERVED_OPTIONS:
            if key in options:
                raise InvalidInput(f"{key!r} cannot be an option: each piece sets its own")
        config = cls(
            master_prompt=prompt, trait_types=types, supply=supply, seed=seed,
            exclusions=tuple(_exclusion(e, types)
                             for e in _list(data.get("exclusions") or [], "exclusions")),
            tool=str(data.get("tool") or "make"), options=dict(options),
        )
        for number in range(1, supply + 1 if check else 1):
            config.plan(number)  # an exclusion that leaves a type empty fails here, clearly
        return config

    def to_dict(self) -> dict[str, Any]:
        return {
            "master_prompt": self.master_prompt,
            "trait_types": [
                {"name": t.name, "traits": [
                    {"name": x.name, "prompt": x.prompt, "weight": x.weight} for x in t.traits
                ]} for t in self.trait_types
            ],
            "exclusions": [list(pair) for pair in self.exclusions],
            "supply": self.supply, "seed": self.seed, "tool": self.tool,
            "options": self.options,
        }

    @property
    def hash(self) -> str:
        """The same configuration → the same hash (key order and whitespace do not matter)."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    # ----- planning ----------------------------------------------------------------------

    def plan(self, number: int, attempt: int = 0) -> PiecePlan:
        """Piece ``number``'s traits (from the seed and the number only) and its image seed
        (which changes with each regeneration ``attempt``)."""
        rng = random.Random(f"{self.seed}:{number}")
        chosen: dict[str, Trait] = {}
        for kind in self.trait_types:
            blocked = {b for a, b in self._pairs() if a in _keys(chosen)}
            options = [t for t in kind.traits if f"{kind.name}:{t.name}" not in blocked]
            if not options:
                raise InvalidInput(
                    f"piece {number}: every {kind.name!r} trait is excluded by "
                    f"{', '.join(sorted(_keys(chosen)))}: loosen the exclusions"
                )
            chosen[kind.name] = _pick(rng, options)
        prompt = PLACEHOLDER.sub(lambda m: chosen[m.group(1).strip()].prompt, self.master_prompt)
        digest = hashlib.sha256(f"{self.seed}:{number}:{attempt}".encode()).digest()
        return PiecePlan(
            number=number,
            attributes=[{"trait_type": k, "value": t.name} for k, t in chosen.items()],
            prompt=" ".join(prompt.split()),
            seed=int.from_bytes(digest[:4], "big") % 2**31,
        )

    def _pairs(self) -> set[tuple[str, str]]:
        pairs = set(self.exclusions)
        return pairs | {(b, a) for a, b in pairs}


def _keys(chosen: dict[str, Trait]) -> set[str]:
    return {f"{kind}:{trait.name}" for kind, trait in chosen.items()}


def _pick(rng: random.Random, traits: list[Trait]) -> Trait:
    return weighted_pick(rng, traits, [t.weight for t in traits])


def weighted_pick(rng: random.Random, choices: Sequence[T], weights: Sequence[float]) -> T:
    """One of ``choices``, each as likely as its (positive) weight — one draw of ``rng``, so
    the same seed picks the same. Cook's traits and prompt wildcards both draw with it."""
    point = rng.random() * sum(weights)
    for choice, weight in zip(choices, weights, strict=True):
        point -= weight
        if point < 0:
            return choice
    return choices[-1]


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInput(f"{what} must be a list")
    return value


def _name(value: Any, what: str) -> str:
    name = " ".join(str(value or "").split())
    if not name or len(name) > NAME_MAX or any(c in name for c in "[]:"):
        raise InvalidInput(f"{what} must be 1–{NAME_MAX} characters without [ ] or :")
    return name


def _trait_type(data: Any) -> TraitType:
    if not isinstance(data, dict):
        raise InvalidInput("each trait type is an object with a name and traits")
    name = _name(data.get("name"), "a trait type's name")
    traits = []
    for raw in _list(data.get("traits"), f"the traits of {name!r}"):
        raw = {"name": raw} if isinstance(raw, str) else raw
        if not isinstance(raw, dict):
            raise InvalidInput(f"each trait of {name!r} is a name or an object")
        trait_name = _name(raw.get("name"), f"a trait name in {name!r}")
        weight = raw.get("weight", 1)
        if (isinstance(weight, bool) or not isinstance(weight, int | float)
                or not math.isfinite(weight) or weight <= 0):
            raise InvalidInput(f"the weight of {trait_name!r} in {name!r} must be a positive "
                               f"number (got {weight!r})")
        prompt = " ".join(str(raw.get("prompt") or trait_name).split())
        if len(prompt) > PROMPT_MAX:
            raise InvalidInput(f"the prompt of {trait_name!r} is too long")
        traits.append(Trait(trait_name, prompt, float(weight)))
    if not traits:
        raise InvalidInput(f"the trait type {name!r} has no traits")
    seen = [t.name for t in traits]
    for trait_name in seen:
        if seen.count(trait_name) > 1:
            raise InvalidInput(f"{name!r} has two traits named {trait_name!r}")
    return TraitType(name, tuple(traits))


def _exclusion(data: Any, types: tuple[TraitType, ...]) -> tuple[str, str]:
    if (not isinstance(data, list | tuple) or len(data) != 2
            or not all(isinstance(x, str) for x in data)):
        raise InvalidInput('an exclusion is a pair ["type:trait", "type:trait"]')
    known = {f"{t.name}:{x.name}" for t in types for x in t.traits}
    pair = tuple(" ".join(x.split()) for x in data)
    for key in pair:
        if key not in known:
            raise InvalidInput(f"the exclusion names {key!r}, which is not a trait "
                               "(write type:trait)")
    if pair[0].split(":")[0] == pair[1].split(":")[0]:
        raise InvalidInput(f"{pair[0]} and {pair[1]} are of the same type: they never meet")
    return pair[0], pair[1]
