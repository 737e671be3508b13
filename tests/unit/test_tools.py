"""Tools: loading tool files, the value order of options, validation messages, prices,
input discovery by the ``input_<name>`` convention and filling the workflow graph."""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import stationthis
from stationthis.bootstrap import build
from stationthis.config import Settings
from stationthis.core.errors import InvalidInput, NotFound
from stationthis.core.tools import SEED_MAX, CostFormula, Tool, ToolRegistry

BUILTIN = Path(stationthis.__file__).parent / "builtin_tools"
DEFAULT_COST = CostFormula(10, 5, 0.5, 20)


@pytest.fixture(scope="module")
def registry() -> ToolRegistry:
    return ToolRegistry.load([BUILTIN], DEFAULT_COST)


@pytest.fixture
def make(registry: ToolRegistry) -> Tool:
    return registry.get("make")


def write_tool(folder: Path, filename: str, data: dict[str, Any] | str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / filename
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return path


def small_tool(**changes: Any) -> dict[str, Any]:
    """A minimal valid tool file; ``changes`` replace or (with None) remove top-level keys."""
    data: dict[str, Any] = {
        "name": "sketch",
        "category": "txt2img",
        "description": "a tiny tool",
        "graph": {"1": {"class_type": "EmptyImage", "inputs": {"width": 512, "height": 512}}},
        "inputs": {"width": {"node": "1", "field": "width", "type": "int", "min": 64, "max": 2048}},
    }
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def original_price(width: int, height: int, steps: int, batch: int) -> int:
    """The original system's static formula: ⌈10 + ⌈w·h/512²⌉·5 + max(0, steps−20)·0.5⌉ × batch."""
    tiles = math.ceil(width * height / 512**2)
    return math.ceil(10 + tiles * 5 + max(0, steps - 20) * 0.5) * batch


# ----- loading ---------------------------------------------------------------------------------


def test_builtin_tools_load_with_their_categories(registry: ToolRegistry) -> None:
    categories = {tool.name: tool.category for tool in registry.all()}
    assert categories == {
        "make": "txt2img",
        "img2img": "img2img",
        "upscale": "upscale",
        "rmbg": "rmbg",
        "outpaint": "outpaint",
        "inpaint": "inpaint",
        "train": "train",
        "caption": "caption",
        "describe": "describe",
        "reference": "reference",
        "reference-pose": "reference",
        "reference-depth": "reference",
        "reference-style": "reference",
    }
    assert [t.name for t in registry.by_category("txt2img")] == ["make"]


def test_unknown_tool_is_not_found_and_lists_the_available_ones(registry: ToolRegistry) -> None:
    with pytest.raises(NotFound) as err:
        registry.get("paint")
    assert "paint" in err.value.message
    for name in ("img2img", "make", "rmbg", "upscale"):
        assert name in err.value.message


def test_public_description_hides_graph_wiring(make: Tool) -> None:
    public = make.public()
    assert public["name"] == "make"
    assert public["inputs"]["width"]["min"] == 64
    assert "node" not in public["inputs"]["width"] and "field" not in public["inputs"]["width"]
    assert "graph" not in public


# ----- the value order and validation ----------------------------------------------------------


def test_explicit_option_beats_user_setting_beats_tool_default(make: Tool) -> None:
    settings = {"steps": 30, "cfg": 9.5, "colour": "blue"}  # unknown settings keys are ignored
    params = make.resolve({"prompt": "a cat", "steps": 40}, settings)
    assert params["steps"] == 40  # explicit option
    assert params["cfg"] == 9.5  # user setting
    assert params["width"] == 512  # tool default
    assert params["prompt"] == "a cat"


def test_unset_options_fall_through_to_the_next_layer(make: Tool) -> None:
    params = make.resolve({"prompt": "a cat", "steps": None}, {"steps": 25})
    assert params["steps"] == 25


def test_values_are_converted_to_the_input_type(make: Tool) -> None:
    params = make.resolve({"prompt": "a cat", "width": "768", "cfg": "6.5"})
    assert params["width"] == 768 and isinstance(params["width"], int)
    assert params["cfg"] == 6.5


def test_seed_minus_one_becomes_a_concrete_seed(make: Tool) -> None:
    seeds = {make.resolve({"prompt": "a cat", "seed": -1})["seed"] for _ in range(20)}
    assert all(isinstance(s, int) and 0 <= s <= SEED_MAX for s in seeds)
    assert len(seeds) > 1  # random, not a fixed stand-in
    default_seed = make.resolve({"prompt": "a cat"})["seed"]  # the default is -1 too
    assert 0 <= default_seed <= SEED_MAX


def test_a_chosen_seed_is_kept(make: Tool) -> None:
    assert make.resolve({"prompt": "a cat", "seed": 0})["seed"] == 0
    assert make.resolve({"prompt": "a cat", "seed": 1234})["seed"] == 1234


def test_too_long_prompt_is_refused_naming_the_limit(make: Tool) -> None:
    make.resolve({"prompt": "x" * 2000})
    with pytest.raises(InvalidInput) as err:
        make.resolve({"prompt": "x" * 2001})
    assert "2000" in err.value.message and "2001" in err.value.message
    assert err.value.details["input"] == "prompt"


@pytest.mark.parametrize("prompt", ["", "   ", None])
def test_txt2img_refuses_an_empty_prompt(make: Tool, prompt: str | None) -> None:
    with pytest.raises(InvalidInput) as err:
        make.resolve({"prompt": prompt})
    assert "prompt" in err.value.message


def test_image_only_tool_needs_no_prompt(registry: ToolRegistry) -> None:
    params = registry.get("upscale").resolve({"image": "media1", "width": 512, "height": 512})
    assert params["scale"] == 2


def test_out_of_range_width_is_refused_with_the_allowed_range(make: Tool) -> None:
    with pytest.raises(InvalidInput) as err:
        make.resolve({"prompt": "a cat", "width": 4096})
    message = err.value.message
    assert "width" in message and "64" in message and "2048" in message and "4096" in message


def test_out_of_range_user_setting_is_refused_too(make: Tool) -> None:
    with pytest.raises(InvalidInput, match="steps"):
        make.resolve({"prompt": "a cat"}, {"steps": 500})


def test_non_numeric_value_is_refused(make: Tool) -> None:
    with pytest.raises(InvalidInput, match="width must be an integer"):
        make.resolve({"prompt": "a cat", "width": "wide"})
    with pytest.raises(InvalidInput, match="width must be an integer"):
        make.resolve({"prompt": "a cat", "width": 512.5})


def test_unknown_option_is_refused_naming_the_options(make: Tool) -> None:
    with pytest.raises(InvalidInput) as err:
        make.resolve({"prompt": "a cat", "colour": "blue"})
    message = err.value.message
    assert "colour" in message
    for option in ("prompt", "seed", "width", "steps", "batch"):
        assert option in message


def test_a_choice_outside_the_choices_is_refused(registry: ToolRegistry) -> None:
    upscale = registry.get("upscale")
    assert upscale.resolve({"image": "m", "scale": "4"})["scale"] == 4
    with pytest.raises(InvalidInput, match="2, 4"):
        upscale.resolve({"image": "m", "scale": 3})


def test_nan_is_not_a_number_in_range(make: Tool) -> None:
    """'nan' passes every ``<``/``>`` bound check; it must be refused, not sent to the engine."""
    with pytest.raises(InvalidInput, match="cfg"):
        make.resolve({"prompt": "a cat", "cfg": "nan"})


def test_infinite_integer_is_refused_not_crashing(make: Tool) -> None:
    """A JSON body may carry 1e999 (Python reads it as inf): refuse it like any bad number."""
    with pytest.raises(InvalidInput, match="width"):
        make.resolve({"prompt": "a cat", "width": float("inf")})


# ----- prices ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "steps", "batch"),
    [
        (512, 512, 20, 1),
        (1024, 1024, 30, 1),
        (768, 512, 25, 1),
        (768, 512, 21, 2),  # a half point per step beyond 20 is rounded up before the batch
        (2048, 2048, 150, 6),
        (64, 64, 1, 1),
    ],
)
def test_price_matches_the_original_formula(
    make: Tool, width: int, height: int, steps: int, batch: int
) -> None:
    params = make.resolve(
        {"prompt": "a cat", "width": width, "height": height, "steps": steps, "batch": batch}
    )
    assert make.price(params) == original_price(width, height, steps, batch)


def test_default_make_costs_fifteen_points(make: Tool) -> None:
    assert make.price(make.resolve({"prompt": "a cat"})) == 15


def test_upscale_price_counts_the_scaled_pixels(registry: ToolRegistry) -> None:
    upscale = registry.get("upscale")
    base = {"image": "m", "width": 512, "height": 512}
    # upscale.json: base 5, 1 point per 512² tile of the OUTPUT image.
    assert upscale.price(upscale.resolve({**base, "scale": 2})) == 5 + 4
    assert upscale.price(upscale.resolve({**base, "scale": 4})) == 5 + 16
    rmbg = registry.get("rmbg")  # no scaling: the input pixels
    assert rmbg.price(rmbg.resolve(base)) == 5 + 1


# ----- discovery and the graph -----------------------------------------------------------------


DEPLOY_GRAPH: dict[str, Any] = {
    "3": {
        "class_type": "ComfyUIDeployExternalText",
        "inputs": {"input_id": "input_prompt", "default_value": "a lighthouse"},
        "_meta": {"title": "input_prompt"},
    },
    "7": {
        "class_type": "ComfyUIDeployExternalNumberInt",
        "inputs": {"input_id": "input_seed", "default_value": 42},
        "_meta": {"title": "input_seed"},
    },
    "input_steps": {
        "class_type": "ComfyUIDeployExternalNumberInt",
        "inputs": {"default_value": 20},
    },
    "9": {
        "class_type": "CLIPTextEncode",
        "inputs": {"text": ["3", 0], "clip": ["4", 1]},
        "_meta": {"title": "Positive"},
    },
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "model.safetensors"}},
}


@pytest.fixture
def deploy_tool(tmp_path: Path) -> Tool:
    graph = copy.deepcopy(DEPLOY_GRAPH)
    write_tool(tmp_path, "deploy.json", {"name": "deploy", "category": "txt2img", "graph": graph})
    return ToolRegistry.load([tmp_path], DEFAULT_COST).get("deploy")


def test_inputs_are_discovered_from_input_nodes(deploy_tool: Tool) -> None:
    inputs = deploy_tool.inputs
    assert set(inputs) == {"prompt", "seed", "steps"}  # titles, or the node id
    assert (inputs["prompt"].type, inputs["prompt"].node) == ("str", "3")
    assert (inputs["seed"].type, inputs["seed"].node) == ("int", "7")
    assert inputs["steps"].node == "input_steps"
    assert inputs["prompt"].default == "a lighthouse"
    assert inputs["seed"].default == 42


def test_discovered_inputs_fill_the_default_value_field(deploy_tool: Tool) -> None:
    params = deploy_tool.resolve({"prompt": "a harbour at night", "seed": 7})
    graph = deploy_tool.fill_graph(params)
    assert graph["3"]["inputs"]["default_value"] == "a harbour at night"
    assert graph["7"]["inputs"]["default_value"] == 7
    assert graph["input_steps"]["inputs"]["default_value"] == 20
    assert graph["9"] == DEPLOY_GRAPH["9"]  # other nodes untouched


def test_discovered_seed_minus_one_is_made_concrete(deploy_tool: Tool) -> None:
    seed = deploy_tool.resolve({"prompt": "x", "seed": -1})["seed"]
    assert 0 <= seed <= SEED_MAX


def test_fill_graph_sets_fields_and_leaves_the_template_alone(make: Tool) -> None:
    template = copy.deepcopy(make.graph)
    params = make.resolve(
        {"prompt": "a red fox", "negative": "blurry", "seed": 99, "width": 768, "batch": 2}
    )
    graph = make.fill_graph(params)
    assert graph["6"]["inputs"]["text"] == "a red fox"
    assert graph["7"]["inputs"]["text"] == "blurry"
    assert graph["3"]["inputs"]["seed"] == 99
    assert graph["5"]["inputs"]["width"] == 768
    assert graph["5"]["inputs"]["batch_size"] == 2
    assert graph["3"]["inputs"]["positive"] == ["6", 0]  # links stay links
    assert make.graph == template  # the next job starts from a clean template
    assert make.fill_graph(make.resolve({"prompt": "another"}))["6"]["inputs"]["text"] == "another"


def test_image_inputs_are_left_for_the_engine(registry: ToolRegistry) -> None:
    upscale = registry.get("upscale")
    graph = upscale.fill_graph(upscale.resolve({"image": "media123"}))
    assert graph["1"]["inputs"]["image"] == "input.png"


# ----- tool folders ----------------------------------------------------------------------------


def test_tools_dir_file_overrides_a_builtin_of_the_same_name(tmp_path: Path) -> None:
    override = small_tool(name="make", description="our own make")
    path = write_tool(tmp_path, "mine.json", override)
    registry = ToolRegistry.load([BUILTIN, tmp_path], DEFAULT_COST)
    make = registry.get("make")
    assert make.description == "our own make"
    assert make.source == str(path)
    assert set(make.inputs) == {"width"}
    builtins = ToolRegistry.load([BUILTIN], DEFAULT_COST).all()
    assert len(registry.all()) == len(builtins)  # replaced, not added


def test_tools_dir_setting_is_used_by_the_app(
    tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    folder = tmp_path / "tools"
    write_tool(folder, "make.json", small_tool(name="make", description="site make"))
    write_tool(folder, "sketch.json", small_tool())
    app = build(make_settings(tools_dir=folder))
    assert app.tools.get("make").description == "site make"
    assert app.tools.get("sketch").category == "txt2img"
    assert app.tools.get("upscale").source.endswith("upscale.json")


def test_a_tool_file_may_set_its_own_cost(tmp_path: Path) -> None:
    write_tool(tmp_path, "cheap.json", small_tool(cost={"base": 1, "per_tile": 0}))
    tool = ToolRegistry.load([tmp_path], DEFAULT_COST).get("sketch")
    assert tool.price({"width": 1024, "height": 1024, "steps": 30}) == 1 + 5  # steps keep 0.5


def test_missing_tools_folder_is_reported(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        ToolRegistry.load([tmp_path / "nowhere"], DEFAULT_COST)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"name": "sketch", "category": ', "not valid JSON"),
        ("[1, 2]", "JSON object"),
        (small_tool(graph=None), "'graph'"),
        (small_tool(name=None), "'name'"),
        (small_tool(category="video"), "unknown category 'video'"),
        (small_tool(graph={"1": {"inputs": {}}}), "class_type"),
        (
            small_tool(inputs={"width": {"node": "99", "field": "width", "type": "int"}}),
            "missing node '99'",
        ),
        (small_tool(inputs={"width": {"node": "1", "type": "decimal"}}), "unknown type 'decimal'"),
        (small_tool(cost={"bonus": 3}), "bad cost"),
    ],
    ids=[
        "bad-json",
        "not-an-object",
        "no-graph",
        "no-name",
        "unknown-category",
        "not-api-format",
        "missing-node",
        "unknown-type",
        "unknown-cost-key",
    ],
)
def test_malformed_tool_file_is_refused_naming_the_file(
    tmp_path: Path, content: dict[str, Any] | str, expected: str
) -> None:
    path = write_tool(tmp_path, "broken.json", content)
    with pytest.raises(InvalidInput) as err:
        ToolRegistry.load([tmp_path], DEFAULT_COST)
    assert str(path) in err.value.message
    assert expected in err.value.message


@pytest.mark.parametrize(
    "content",
    [
        small_tool(inputs={"width": "int"}),  # an input spec that is not an object
        small_tool(inputs=["width"]),  # inputs as a list
        small_tool(cost=[10, 5]),  # cost as a list
    ],
    ids=["input-spec-not-object", "inputs-list", "cost-list"],
)
def test_wrongly_shaped_sections_are_refused_naming_the_file(
    tmp_path: Path, content: dict[str, Any]
) -> None:
    """Sections of the wrong JSON type must give the same clear message, not a crash."""
    path = write_tool(tmp_path, "shape.json", content)
    with pytest.raises(InvalidInput) as err:
        ToolRegistry.load([tmp_path], DEFAULT_COST)
    assert str(path) in err.value.message


@pytest.mark.parametrize(
    ("given", "ours"),
    [("STRING", "str"), ("string", "str"), ("INT", "int"), ("integer", "int"),
     ("FLOAT", "float"), ("number", "float"), ("BOOLEAN", "bool"), ("boolean", "bool"),
     ("IMAGE", "image"), ("Int", "int")],
)
def test_comfyui_and_json_schema_type_names_are_understood(
    tmp_path: Path, given: str, ours: str
) -> None:
    """A tool file written with ComfyUI's (STRING, INT, …) or JSON Schema's (string,
    integer, …) type names loads, and its input checks values as our type does."""
    spec: dict[str, Any] = {"node": "1", "field": "width", "type": given}
    write_tool(tmp_path, "sketch.json", small_tool(inputs={"width": spec}))
    tool = ToolRegistry.load([tmp_path], DEFAULT_COST).get("sketch")
    assert tool.inputs["width"].type == ours
    if ours == "int":
        assert tool.resolve({"width": "640"})["width"] == 640
        with pytest.raises(InvalidInput, match="width must be an integer"):
            tool.resolve({"width": "wide"})
    if ours == "bool":
        assert tool.resolve({"width": "true"})["width"] is True


def test_an_unknown_type_name_lists_the_known_ones(tmp_path: Path) -> None:
    write_tool(tmp_path, "sketch.json",
               small_tool(inputs={"width": {"node": "1", "type": "LATENT"}}))
    with pytest.raises(InvalidInput) as err:
        ToolRegistry.load([tmp_path], DEFAULT_COST)
    assert "unknown type 'LATENT'" in err.value.message
    assert "INT" in err.value.message and "integer" in err.value.message
