"""Node catalogue and prompt validation for the fake ComfyUI server (tests only).

Shapes follow the recorded protocol (/work/shared/reference/comfyui-protocol.md): ``object_info``
entries as ComfyUI 0.3.75 serves them, and the 400 bodies of ``POST /prompt``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

JSON = dict[str, Any]

DEFAULT_MODELS: dict[str, list[str]] = {
    "checkpoints": ["v1-5-pruned-emaonly.safetensors"],
    "upscale_models": ["RealESRGAN_x4plus.pth"],
    "controlnet": ["control_v11p_sd15_canny.pth"],
    "clip_vision": ["clip_vision_vit_l14.safetensors"],
    "style_models": ["t2iadapter_style_sd14v1.pth"],
}
# Folder names a stock ComfyUI lists under GET /models (models given to the fake are added).
MODEL_FOLDERS = [
    "checkpoints", "configs", "loras", "vae", "text_encoders", "diffusion_models",
    "clip_vision", "style_models", "embeddings", "diffusers", "vae_approx", "controlnet",
    "gligen", "upscale_models", "hypernetworks", "photomaker", "classifiers",
]
PROGRESS_NODES = frozenset(
    {"KSampler", "KSamplerAdvanced", "SamplerCustom", "ImageUpscaleWithModel"}
)
SAVE_NODES = {"SaveImage": "output", "PreviewImage": "temp"}  # class -> /view type
WEBSOCKET_SAVE = "SaveImageWebsocket"

_SAMPLERS = ["euler", "euler_ancestral", "heun", "dpm_2", "dpmpp_2m", "dpmpp_sde", "ddim", "uni_pc"]
_SCHEDULERS = ["simple", "sgm_uniform", "karras", "exponential", "ddim_uniform", "beta", "normal"]
_UPSCALE = ["nearest-exact", "bilinear", "area", "bicubic", "lanczos"]
_IMAGE = ["IMAGE"]
_HIDDEN_PNG = {"prompt": "PROMPT", "extra_pnginfo": "EXTRA_PNGINFO"}


def _int(default: int, lo: int, hi: int, **extra: Any) -> list[Any]:
    return ["INT", {"default": default, "min": lo, "max": hi, "step": 1, **extra}]


def _float(default: float, lo: float, hi: float, step: float = 0.01) -> list[Any]:
    return ["FLOAT", {"default": default, "min": lo, "max": hi, "step": step}]


def _node(
    name: str,
    display: str,
    category: str,
    required: JSON,
    output: Iterable[str] = (),
    *,
    output_node: bool = False,
    hidden: JSON | None = None,
    module: str = "nodes",
) -> JSON:
    inputs: JSON = {"required": required}
    if hidden:
        inputs["hidden"] = hidden
    outputs = list(output)
    return {
        "input": inputs,
        "input_order": {section: list(spec) for section, spec in inputs.items()},
        "output": outputs,
        "output_is_list": [False] * len(outputs),
        "output_name": list(outputs),
        "name": name,
        "display_name": display,
        "description": "",
        "python_module": module,
        "category": category,
        "output_node": output_node,
    }


def default_object_info(models: dict[str, list[str]]) -> JSON:
    """The classes the fake knows, in ComfyUI's ``/object_info`` format."""
    size = _int(512, 16, 16384, step=8)
    nodes = [
        _node("CheckpointLoaderSimple", "Load Checkpoint", "loaders",
              {"ckpt_name": [list(models.get("checkpoints", []))]}, ["MODEL", "CLIP", "VAE"]),
        _node("CLIPTextEncode", "CLIP Text Encode (Prompt)", "conditioning",
              {"text": ["STRING", {"multiline": True, "dynamicPrompts": True}], "clip": ["CLIP"]},
              ["CONDITIONING"]),
        _node("EmptyLatentImage", "Empty Latent Image", "latent",
              {"width": size, "height": size, "batch_size": _int(1, 1, 4096)}, ["LATENT"]),
        _node("KSampler", "KSampler", "sampling", {
            "model": ["MODEL"],
            "seed": _int(0, 0, 0xFFFFFFFFFFFFFFFF, control_after_generate=True),
            "steps": _int(20, 1, 10000),
            "cfg": _float(8.0, 0.0, 100.0, 0.1),
            "sampler_name": [_SAMPLERS],
            "scheduler": [_SCHEDULERS],
            "positive": ["CONDITIONING"],
            "negative": ["CONDITIONING"],
            "latent_image": ["LATENT"],
            "denoise": _float(1.0, 0.0, 1.0),
        }, ["LATENT"]),
        _node("VAEDecode", "VAE Decode", "latent", {"samples": ["LATENT"], "vae": ["VAE"]}, _IMAGE),
        _node("VAEEncode", "VAE Encode", "latent", {"pixels": _IMAGE, "vae": ["VAE"]}, ["LATENT"]),
        _node("LoadImage", "Load Image", "image", {"image": [[], {"image_upload": True}]},
              ["IMAGE", "MASK"]),
        _node("SaveImage", "Save Image", "image",
              {"images": _IMAGE, "filename_prefix": ["STRING", {"default": "ComfyUI"}]},
              output_node=True, hidden=_HIDDEN_PNG),
        _node("PreviewImage", "Preview Image", "image", {"images": _IMAGE},
              output_node=True, hidden=_HIDDEN_PNG),
        _node("EmptyImage", "EmptyImage", "image", {
            "width": _int(512, 1, 16384), "height": _int(512, 1, 16384),
            "batch_size": _int(1, 1, 4096), "color": _int(0, 0, 0xFFFFFF, display="color"),
        }, _IMAGE),
        _node("ImageInvert", "Invert Image", "image", {"image": _IMAGE}, _IMAGE),
        _node("ImageBlur", "Image Blur", "image/postprocessing", {
            "image": _IMAGE, "blur_radius": _int(1, 1, 31), "sigma": _float(1.0, 0.1, 10.0, 0.1),
        }, _IMAGE, module="comfy_extras.nodes_post_processing"),
        _node("ImageScale", "Upscale Image", "image/upscaling", {
            "image": _IMAGE, "upscale_method": [_UPSCALE], "width": _int(512, 0, 16384),
            "height": _int(512, 0, 16384), "crop": [["disabled", "center"]],
        }, _IMAGE),
        _node("ImageScaleBy", "Upscale Image By", "image/upscaling", {
            "image": _IMAGE, "upscale_method": [_UPSCALE], "scale_by": _float(1.0, 0.01, 8.0),
        }, _IMAGE),
        _node("UpscaleModelLoader", "Load Upscale Model", "loaders",
              {"model_name": [list(models.get("upscale_models", []))]}, ["UPSCALE_MODEL"],
              module="comfy_extras.nodes_upscale_model"),
        _node("ImageUpscaleWithModel", "Upscale Image (using Model)", "image/upscaling",
              {"upscale_model": ["UPSCALE_MODEL"], "image": _IMAGE}, _IMAGE,
              module="comfy_extras.nodes_upscale_model"),
        _node("SaveImageWebsocket", "SaveImageWebsocket", "api node/image", {"images": _IMAGE},
              output_node=True, module="custom_nodes.websocket_image_save"),
        # outpaint (zoom out, pan) and reference images (ControlNet, style model): stock nodes
        _node("ImagePadForOutpaint", "Pad Image for Outpainting", "image", {
            "image": _IMAGE, "left": _int(0, 0, 16384), "top": _int(0, 0, 16384),
            "right": _int(0, 0, 16384), "bottom": _int(0, 0, 16384),
            "feathering": _int(40, 0, 16384)}, ["IMAGE", "MASK"]),
        _node("VAEEncodeForInpaint", "VAE Encode (for Inpainting)", "latent/inpaint", {
            "pixels": _IMAGE, "vae": ["VAE"], "mask": ["MASK"],
            "grow_mask_by": _int(6, 0, 64)}, ["LATENT"]),
        _node("Canny", "Canny", "image/preprocessors", {
            "image": _IMAGE, "low_threshold": _float(0.4, 0.01, 0.99),
            "high_threshold": _float(0.8, 0.01, 0.99)}, _IMAGE, module="comfy_extras.nodes_canny"),
        _node("ControlNetLoader", "Load ControlNet Model", "loaders",
              {"control_net_name": [list(models.get("controlnet", []))]}, ["CONTROL_NET"]),
        _node("ControlNetApplyAdvanced", "Apply ControlNet", "conditioning/controlnet", {
            "positive": ["CONDITIONING"], "negative": ["CONDITIONING"],
            "control_net": ["CONTROL_NET"], "image": _IMAGE, "strength": _float(1.0, 0.0, 10.0),
            "start_percent": _float(0.0, 0.0, 1.0, 0.001),
            "end_percent": _float(1.0, 0.0, 1.0, 0.001)}, ["CONDITIONING", "CONDITIONING"]),
        _node("CLIPVisionLoader", "Load CLIP Vision", "loaders",
              {"clip_name": [list(models.get("clip_vision", []))]}, ["CLIP_VISION"]),
        _node("CLIPVisionEncode", "CLIP Vision Encode", "conditioning", {
            "clip_vision": ["CLIP_VISION"], "image": _IMAGE, "crop": [["center", "none"]]},
            ["CLIP_VISION_OUTPUT"]),
        _node("StyleModelLoader", "Load Style Model", "loaders",
              {"style_model_name": [list(models.get("style_models", []))]}, ["STYLE_MODEL"]),
        _node("StyleModelApply", "Apply Style Model", "conditioning/style_model", {
            "conditioning": ["CONDITIONING"], "style_model": ["STYLE_MODEL"],
            "clip_vision_output": ["CLIP_VISION_OUTPUT"],
            "strength": _float(1.0, 0.0, 10.0, 0.001),
            "strength_type": [["multiply", "attn_bias"]]}, ["CONDITIONING"]),
    ]
    return {node["name"]: node for node in nodes}


def reason(kind: str, message: str, details: str = "", **extra_info: Any) -> JSON:
    """One ComfyUI error object: ``{type, message, details, extra_info}``."""
    return {"type": kind, "message": message, "details": details, "extra_info": extra_info}


def is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[1], int)


class _Validator:
    """Validates nodes depth-first from the outputs, memoising ``(ok, reasons)`` per node."""

    def __init__(self, graph: JSON, info: JSON, input_files: Collection[str]) -> None:
        self.graph, self.info, self.input_files = graph, info, input_files
        self.done: dict[str, tuple[bool, list[JSON]]] = {}

    def check(self, node_id: str) -> bool:
        if node_id in self.done:
            return self.done[node_id][0]
        self.done[node_id] = (True, [])  # provisional: stops a cycle from recursing forever
        node = self.graph[node_id]
        inputs = node.get("inputs") or {}
        ok, errors = True, []
        for name, config in self.info[node["class_type"]]["input"].get("required", {}).items():
            if name not in inputs:
                errors.append(reason("required_input_missing", "Required input is missing", name,
                                     input_name=name))
            elif isinstance(inputs[name], list):
                error, upstream_ok = self._link(name, config, inputs[name])
                ok = ok and upstream_ok
                errors += [error] if error else []
            elif error := self._literal(node["class_type"], name, config, inputs[name]):
                errors.append(error)
        self.done[node_id] = (ok and not errors, errors)
        return self.done[node_id][0]

    def _link(self, name: str, config: list[Any], value: list[Any]) -> tuple[JSON | None, bool]:
        if len(value) != 2:
            return reason("bad_linked_input", "Bad linked input, must be a length-2 list of "
                          "[node_id, slot_index]", name, input_name=name, input_config=config,
                          received_value=value), True
        upstream = str(value[0])
        received = self.info[self.graph[upstream]["class_type"]]["output"][value[1]]  # may raise
        wanted = config[0]
        if isinstance(wanted, str) and "*" not in (wanted, received) and wanted != received:
            return reason("return_type_mismatch", "Return type mismatch between linked nodes",
                          f"{name}, received_type({received}) mismatch input_type({wanted})",
                          input_name=name, input_config=config, received_type=received,
                          linked_node=value), True
        return None, self.check(upstream)

    def _literal(self, class_type: str, name: str, config: list[Any], value: Any) -> JSON | None:
        kind, options = config[0], (config[1] if len(config) > 1 else {})
        extra = {"input_name": name, "input_config": config, "received_value": value}
        if kind in ("INT", "FLOAT"):
            try:
                value = int(value) if kind == "INT" else float(value)
            except (TypeError, ValueError) as exc:
                return reason("invalid_input_type",
                              f"Failed to convert an input value to a {kind} value",
                              f"{name}, {value}, {exc}", **extra, exception_message=str(exc))
            if "min" in options and value < options["min"]:
                return reason("value_smaller_than_min",
                              f"Value {value} smaller than min of {options['min']}", name, **extra)
            if "max" in options and value > options["max"]:
                return reason("value_bigger_than_max",
                              f"Value {value} bigger than max of {options['max']}", name, **extra)
        if class_type == "LoadImage" and name == "image":
            if value in self.input_files:
                return None
            return reason("custom_validation_failed", "Custom validation failed for node",
                          f"{name} - Invalid image file: {value}", **extra)
        if kind == "COMBO" and value not in options.get("options", []):
            return reason("value_not_in_list", "Value not in list", f"{name}: '{value}' not in "
                          f"{options.get('options', [])}", **extra)
        if isinstance(kind, list) and value not in kind:
            return reason("value_not_in_list", "Value not in list", f"{name}: '{value}' not in "
                          f"{kind}", **extra)
        return None


def validate_prompt(
    graph: Any, info: JSON, input_files: Collection[str]
) -> tuple[JSON | None, list[str], JSON]:
    """ComfyUI's validation: ``(error or None, outputs to execute, node_errors)``.

    Outputs that fail validation are dropped; the prompt is refused only if none is left.
    """
    if not isinstance(graph, dict):
        return reason("invalid_prompt", "Prompt must be a mapping of node ids to nodes"), [], {}
    for node_id, node in graph.items():
        details = f"Node ID '#{node_id}'"
        if not isinstance(node, dict) or "class_type" not in node:
            return reason("invalid_prompt", "Cannot execute because a node is missing the "
                          "class_type property.", details), [], {}
        if node["class_type"] not in info:
            return reason("invalid_prompt", f"Cannot execute because node {node['class_type']} "
                          "does not exist.", details), [], {}
    outputs = [nid for nid, node in graph.items() if info[node["class_type"]].get("output_node")]
    if not outputs:
        return reason("prompt_no_outputs", "Prompt has no outputs"), [], {}
    validator = _Validator(graph, info, input_files)
    good: list[str] = []
    failed: list[JSON] = []
    node_errors: JSON = {}
    for output in outputs:
        try:
            if validator.check(output):
                good.append(output)
                continue
        except (KeyError, IndexError, TypeError) as exc:
            validator.done[output] = (False, [reason(
                "exception_during_validation", "Exception when validating node", str(exc),
                exception_type=type(exc).__name__, traceback=[])])
        failed += validator.done[output][1]
        # As in ComfyUI: every failing node validated so far is charged to this output.
        for node_id, (ok, errors) in validator.done.items():
            if not ok and errors:
                entry = node_errors.setdefault(node_id, {
                    "errors": errors, "dependent_outputs": [],
                    "class_type": graph[node_id]["class_type"]})
                entry["dependent_outputs"].append(output)
    if not good:
        details = "\n".join(f"{r['message']}: {r['details']}" for r in failed)
        error = reason("prompt_outputs_failed_validation", "Prompt outputs failed validation",
                       details)
        return error, [], node_errors
    return None, good, node_errors


def no_prompt_error() -> JSON:
    return reason("no_prompt", "No prompt provided", "No prompt provided")


def scripted_validation_error(spec: JSON, graph: JSON, info: JSON) -> JSON:
    """The 400 body for ``Behaviour.validation_error``.

    ``spec`` is either a complete body (``{"error": ..., "node_errors": ...}``, used verbatim) or
    a shorthand ``{"node", "input_name", "type", "message", "details"}`` — all optional.
    """
    if "error" in spec:
        return {"node_errors": {}, **spec}
    node_id = str(spec.get("node") or next(iter(graph)))
    input_name = str(spec.get("input_name", "value"))
    failure = reason(str(spec.get("type", "required_input_missing")),
                     str(spec.get("message", "Required input is missing")),
                     str(spec.get("details", input_name)), input_name=input_name)
    class_type = (graph.get(node_id) or {}).get("class_type", "")
    outputs = [nid for nid, node in graph.items()
               if info.get(node.get("class_type"), {}).get("output_node")] or [node_id]
    return {
        "error": reason("prompt_outputs_failed_validation", "Prompt outputs failed validation",
                        f"{failure['message']}: {failure['details']}"),
        "node_errors": {node_id: {"errors": [failure], "dependent_outputs": outputs,
                                  "class_type": class_type}},
    }


def execution_order(graph: JSON, outputs: Iterable[str]) -> list[str]:
    """The nodes the outputs need, dependencies first (each once)."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(node_id: str) -> None:
        if node_id in seen:
            return
        seen.add(node_id)
        for value in (graph[node_id].get("inputs") or {}).values():
            if is_link(value):
                visit(str(value[0]))
        order.append(node_id)

    for output in outputs:
        visit(output)
    return order
