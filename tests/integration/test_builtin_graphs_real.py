"""Every built-in tool's graph against a REAL ComfyUI (CPU, no model weights).

For each ``src/stationthis/builtin_tools/*.json`` (tools added later are covered by being
there): every node class exists in ``GET /object_info`` — or the tool declares it as a custom
node (``meta.custom_nodes``: class → the node pack), and then our engine refuses the tool by
that node's name, nothing charged — every input name exists for its class, every link points
at an output of the type the input takes, and ``POST /prompt``'s own validation finds nothing
wrong but the model files this server does not have (``value_not_in_list`` on a loader's
model name).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from stationthis.core.engine import JobSpec
from stationthis.core.errors import EngineFailed
from stationthis.core.tools import CostFormula, Tool, parse_tool
from tests.integration.conftest import engine_for
from tests.support.comfyui import RealComfyUI

BUILTIN = Path(__file__).parents[2] / "src" / "stationthis" / "builtin_tools"
TOOL_FILES = sorted(BUILTIN.glob("*.json"))
# Loader inputs that name a model file: with no weights installed, the only errors allowed.
MODEL_FIELDS = {"ckpt_name", "control_net_name", "model_name", "clip_name", "style_model_name",
                "lora_name", "vae_name", "unet_name"}
_INFO: dict[str, dict[str, Any]] = {}


def object_info(server: RealComfyUI) -> dict[str, Any]:
    if server.url not in _INFO:
        _INFO[server.url] = httpx.get(f"{server.url}/object_info", timeout=60).json()
    return _INFO[server.url]


def load(path: Path) -> Tool:
    return parse_tool(path.read_text(encoding="utf-8"), CostFormula(1, 0, 0, 0), str(path))


def custom_nodes(tool: Tool) -> dict[str, str]:
    declared = tool.meta.get("custom_nodes") or {}
    assert isinstance(declared, dict), f"{tool.name}: meta.custom_nodes maps class → node pack"
    return {str(k): str(v) for k, v in declared.items()}


def wiring_problems(tool: Tool, info: dict[str, Any]) -> list[str]:
    """Unknown classes (not declared custom), unknown input names, links to a missing node or
    an output of the wrong type."""
    problems: list[str] = []
    declared = custom_nodes(tool)
    for node_id, node in tool.graph.items():
        kind = node["class_type"]
        spec = info.get(kind)
        if spec is None:
            if kind not in declared:
                problems.append(f"node {node_id}: {kind!r} is not a stock node and the tool "
                                "does not declare it in meta.custom_nodes")
            continue
        takes = {**spec["input"].get("required", {}), **spec["input"].get("optional", {})}
        for name, value in node["inputs"].items():
            if name not in takes:
                problems.append(f"node {node_id} ({kind}): no input {name!r}; it takes "
                                f"{sorted(takes)}")
                continue
            if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)):
                continue  # a plain value: POST /prompt checks it
            source = tool.graph.get(value[0])
            if source is None:
                problems.append(f"node {node_id}.{name}: links to missing node {value[0]!r}")
                continue
            source_spec = info.get(source["class_type"])
            if source_spec is None:
                continue  # a declared custom node: its outputs are unknown here
            outputs = source_spec["output"]
            wanted = takes[name][0]
            if not isinstance(value[1], int) or not 0 <= value[1] < len(outputs):
                problems.append(f"node {node_id}.{name}: {source['class_type']} has no output "
                                f"{value[1]}")
            elif isinstance(wanted, str) and wanted != "*" and outputs[value[1]] != wanted:
                problems.append(f"node {node_id}.{name} takes {wanted} but gets "
                                f"{outputs[value[1]]} from {source['class_type']}")
        required = spec["input"].get("required", {})
        missing = sorted(set(required) - set(node["inputs"]))
        if missing:
            problems.append(f"node {node_id} ({kind}): required inputs missing: {missing}")
    return problems


def upload_picture(server: RealComfyUI) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (64, 64), (120, 40, 200)).save(buf, "PNG")
    answer = httpx.post(f"{server.url}/upload/image", timeout=30,
                        files={"image": ("graph-check.png", buf.getvalue(), "image/png")})
    answer.raise_for_status()
    return str(answer.json()["name"])


def with_uploaded_images(tool: Tool, info: dict[str, Any], name: str) -> dict[str, Any]:
    """The graph with every image-upload input (LoadImage, LoadImageMask…) on ``name``."""
    graph = json.loads(json.dumps(tool.graph))
    for node in graph.values():
        spec = info.get(node["class_type"], {})
        for field, takes in spec.get("input", {}).get("required", {}).items():
            options = takes[1] if len(takes) > 1 and isinstance(takes[1], dict) else {}
            if options.get("image_upload") and field in node["inputs"]:
                node["inputs"][field] = name
    return graph


def validation_errors(server: RealComfyUI, graph: dict[str, Any]) -> list[dict[str, Any]]:
    """POST /prompt's errors per node (none: it was queued — then taken off again)."""
    answer = httpx.post(f"{server.url}/prompt", json={"prompt": graph}, timeout=60)
    if answer.status_code == 200:
        httpx.post(f"{server.url}/queue", json={"delete": [answer.json()["prompt_id"]]})
        return []
    body = answer.json()
    errors = [{**error, "node": node_id, "class_type": node.get("class_type")}
              for node_id, node in (body.get("node_errors") or {}).items()
              for error in node.get("errors", [])]
    if not errors:
        errors.append({"type": "prompt", "message": str(body.get("error"))})
    return errors


@pytest.mark.parametrize("path", TOOL_FILES, ids=[p.stem for p in TOOL_FILES])
async def test_builtin_graph_is_valid_on_a_real_comfyui(
    path: Path, shared_comfyui: RealComfyUI
) -> None:
    tool = load(path)
    info = object_info(shared_comfyui)
    problems = wiring_problems(tool, info)
    assert not problems, f"{path.name}:\n" + "\n".join(problems)

    lacking = sorted({n["class_type"] for n in tool.graph.values()} - set(info))
    if lacking:  # declared custom nodes: our engine refuses the tool by the node's name
        engine = engine_for(shared_comfyui.url)
        try:
            with pytest.raises(EngineFailed) as refused:
                await engine.submit(JobSpec(f"check-{tool.name}", tool.name, tool.category,
                                            {}, graph=tool.graph))
        finally:
            await engine.aclose()
        message = str(refused.value)
        assert "lacks the node" in message and "nothing was charged" in message, message
        assert any(repr(name) in message for name in lacking), message
        return

    graph = with_uploaded_images(tool, info, upload_picture(shared_comfyui))
    errors = validation_errors(shared_comfyui, graph)
    unexpected = [e for e in errors
                  if not (e.get("type") == "value_not_in_list"
                          and (e.get("extra_info") or {}).get("input_name") in MODEL_FIELDS)]
    assert not unexpected, f"{path.name}: ComfyUI rejects the graph:\n" + "\n".join(
        json.dumps(e) for e in unexpected)
