"""The describe tool's custom nodes for the fake ComfyUI (tests only): ComfyUI-Florence2's
``DownloadAndLoadFlorence2Model`` and ``Florence2Run`` and ComfyUI-Custom-Scripts'
``ShowText|pysssss``, which returns its text in the run's history as ``{"text": [...]}``.

A fake server has them only when asked: ``FakeComfyUI(object_info=with_describe_nodes())``.
A caption says which task made it, so a test can tell the three apart."""

from __future__ import annotations

from typing import Any

from tests.support.fake_comfyui_nodes import DEFAULT_MODELS, JSON, default_object_info

SHOW_TEXT = "ShowText|pysssss"
TASKS = ["caption", "detailed_caption", "more_detailed_caption", "region_caption", "ocr"]


def _node(name: str, required: JSON, output: list[str], *, output_node: bool = False,
          module: str = "custom_nodes.ComfyUI-Florence2") -> JSON:
    return {
        "input": {"required": required}, "input_order": {"required": list(required)},
        "output": output, "output_is_list": [name == SHOW_TEXT] * len(output),
        "output_name": list(output), "name": name, "display_name": name, "description": "",
        "python_module": module, "category": "Florence2", "output_node": output_node,
    }


def describe_object_info() -> JSON:
    nodes = [
        _node("DownloadAndLoadFlorence2Model", {
            "model": [["microsoft/Florence-2-base", "microsoft/Florence-2-large"]],
            "precision": [["fp16", "bf16", "fp32"]],
            "attention": [["flash_attention_2", "sdpa", "eager"]],
        }, ["FL2MODEL"]),
        _node("Florence2Run", {
            "image": ["IMAGE"], "florence2_model": ["FL2MODEL"],
            "text_input": ["STRING", {"default": "", "multiline": True}],
            "task": [TASKS], "fill_mask": ["BOOLEAN", {"default": True}],
            "keep_model_loaded": ["BOOLEAN", {"default": False}],
            "max_new_tokens": ["INT", {"default": 1024, "min": 1, "max": 4096}],
            "num_beams": ["INT", {"default": 3, "min": 1, "max": 64}],
            "do_sample": ["BOOLEAN", {"default": True}],
            "output_mask_select": ["STRING", {"default": ""}],
            "seed": ["INT", {"default": 1, "min": 1, "max": 0xFFFFFFFFFFFFFFFF}],
        }, ["IMAGE", "MASK", "STRING", "JSON"]),
        _node(SHOW_TEXT, {"text": ["STRING", {"forceInput": True}]}, ["STRING"],
              output_node=True, module="custom_nodes.ComfyUI-Custom-Scripts"),
    ]
    return {node["name"]: node for node in nodes}


def with_describe_nodes(models: dict[str, list[str]] | None = None) -> JSON:
    """A stock server's ``/object_info`` plus the describe tool's custom nodes."""
    return {**default_object_info(models or DEFAULT_MODELS), **describe_object_info()}


def caption(graph: JSON, show_text_inputs: dict[str, Any]) -> str:
    """What a ShowText node shows: the caption of the Florence2Run its text comes from."""
    source = show_text_inputs.get("text")
    task = "caption"
    if isinstance(source, list) and str(source[0]) in graph:
        task = str((graph[str(source[0])].get("inputs") or {}).get("task", task))
    return f"The image shows a quiet harbour at dusk, {task.replace('_', ' ')}."
