"""Cook configuration: validation with clear errors (the issue's bad-input list), weighted and
deterministic trait selection, exclusions, and the configuration hash."""

from __future__ import annotations

import copy
import math
from collections import Counter
from typing import Any

import pytest

from stationthis.core.collections_traits import CookConfig
from stationthis.core.errors import InvalidInput

BASE: dict[str, Any] = {
    "master_prompt": "a [animal] in [place], [style] style",
    "trait_types": [
        {"name": "animal", "traits": [{"name": "fox", "prompt": "red fox", "weight": 3},
                                      {"name": "owl", "weight": 1}, "cat"]},
        {"name": "place", "traits": ["forest", "ocean", "city"]},
        {"name": "style", "traits": ["ink", "watercolor"]},
        {"name": "background", "traits": ["plain"]},
    ],
    "exclusions": [["animal:fox", "place:ocean"]],
    "supply": 20,
    "seed": 7,
}


def config(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    data.update(changes)
    return data


def parse(data: dict[str, Any], max_supply: int = 1000) -> CookConfig:
    return CookConfig.parse(data, max_supply=max_supply)


def test_pieces_fill_every_placeholder_from_their_traits() -> None:
    cook = parse(config())
    plan = cook.plan(1)
    values = {a["trait_type"]: a["value"] for a in plan.attributes}
    assert list(values) == ["animal", "place", "style", "background"]
    animal = {"fox": "red fox"}.get(values["animal"], values["animal"])
    assert plan.prompt == f"a {animal} in {values['place']}, {values['style']} style"
    assert "[" not in plan.prompt


def test_selection_is_deterministic_from_the_seed() -> None:
    one = [parse(config()).plan(n) for n in range(1, 21)]
    two = [parse(config()).plan(n) for n in range(1, 21)]
    other = [parse(config(seed=8)).plan(n) for n in range(1, 21)]
    assert one == two
    assert [p.attributes for p in one] != [p.attributes for p in other]
    assert len({p.seed for p in one}) == 20  # each piece its own image seed
    # a regeneration keeps the traits and changes the image seed
    again = parse(config()).plan(5, attempt=1)
    assert again.attributes == one[4].attributes and again.seed != one[4].seed


def test_weights_decide_how_often_a_trait_appears() -> None:
    cook = parse(config(supply=3000, exclusions=[]), max_supply=3000)
    counts = Counter(next(a["value"] for a in cook.plan(n).attributes
                          if a["trait_type"] == "animal") for n in range(1, 3001))
    assert math.isclose(counts["fox"] / 3000, 3 / 5, abs_tol=0.04)
    assert math.isclose(counts["owl"] / 3000, 1 / 5, abs_tol=0.03)
    assert math.isclose(counts["cat"] / 3000, 1 / 5, abs_tol=0.03)


def test_excluded_traits_never_meet() -> None:
    cook = parse(config(supply=500), max_supply=500)
    pairs = [{a["value"] for a in cook.plan(n).attributes} for n in range(1, 501)]
    assert not any({"fox", "ocean"} <= p for p in pairs)
    assert any("fox" in p for p in pairs) and any("ocean" in p for p in pairs)


def test_the_hash_recognises_the_same_configuration() -> None:
    same = {k: BASE[k] for k in reversed(list(BASE))}  # other key order
    same = copy.deepcopy(same)
    same["master_prompt"] = "  " + same["master_prompt"] + " "
    assert parse(config()).hash == parse(same).hash
    assert len(parse(config()).hash) == 64
    assert parse(config(supply=21)).hash != parse(config()).hash
    assert parse(config(seed=1)).hash != parse(config()).hash


@pytest.mark.parametrize(("changes", "message"), [
    ({"master_prompt": "a [animal] with a [hat]"},
     "uses \\[hat\\] but there is no trait type named 'hat'"),
    ({"master_prompt": "   "}, "master prompt is empty"),
    ({"supply": 1001}, "supply of 1001 is over the limit of 1000"),
    ({"supply": 0}, "at least 1"),
    ({"supply": "ten"}, "whole number of pieces"),
    ({"trait_types": [{"name": "animal", "traits": [{"name": "fox", "weight": 0}]}],
      "master_prompt": "[animal]", "exclusions": []}, "weight of 'fox' in 'animal'"),
    ({"trait_types": [{"name": "animal", "traits": [{"name": "fox", "weight": -2}]}],
      "master_prompt": "[animal]", "exclusions": []}, "positive number \\(got -2\\)"),
    ({"trait_types": [{"name": "animal", "traits": [{"name": "fox", "weight": "lots"}]}],
      "master_prompt": "[animal]", "exclusions": []}, "positive number"),
    ({"trait_types": [{"name": "animal", "traits": [{"name": "fox", "weight": float("nan")}]}],
      "master_prompt": "[animal]", "exclusions": []}, "positive number"),
    ({"trait_types": [{"name": "animal", "traits": []}], "master_prompt": "[animal]",
      "exclusions": []}, "'animal' has no traits"),
    ({"trait_types": [{"name": "a", "traits": ["x"]}, {"name": "a", "traits": ["y"]}],
      "master_prompt": "[a]", "exclusions": []}, "two trait types are named 'a'"),
    ({"trait_types": [{"name": "a", "traits": ["x", "x"]}], "master_prompt": "[a]",
      "exclusions": []}, "two traits named 'x'"),
    ({"exclusions": [["animal:dragon", "place:ocean"]]}, "'animal:dragon', which is not"),
    ({"exclusions": [["animal:fox", "animal:owl"]]}, "same type"),
    ({"exclusions": ["animal:fox"]}, "is a pair"),
    ({"options": {"seed": 3}}, "'seed' cannot be an option"),
    ({"trait_types": "animal"}, "trait_types must be a list"),
])
def test_bad_configurations_are_refused_clearly(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse(config(**changes))


def test_exclusions_that_leave_a_type_empty_are_refused() -> None:
    data = config(trait_types=[{"name": "animal", "traits": ["fox"]},
                               {"name": "place", "traits": ["ocean"]}],
                  master_prompt="[animal] [place]", exclusions=[["animal:fox", "place:ocean"]])
    with pytest.raises(InvalidInput, match="every 'place' trait is excluded by animal:fox"):
        parse(data)


def test_a_missing_seed_is_chosen_once_and_kept() -> None:
    data = config()
    del data["seed"]
    cook = parse(data)
    assert parse(cook.to_dict()).hash == cook.hash
