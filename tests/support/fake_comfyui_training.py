"""The training side of the fake ComfyUI server (tests only), as ComfyUI 0.3.75 does it.

- ``LoadImageTextDataSetFromFolder`` takes ``folder``, a COMBO of the input folder's
  subfolders (listed afresh at every validation, so a folder made by an upload is valid at
  once), and loads every image there with its same-stem ``.txt`` caption; an empty folder is a
  runtime error ("No valid images found in input").
- ``TrainLoraNode`` sends one ``progress`` frame per training step (``max`` = its ``steps``); no
  loss goes over the wire (ComfyUI prints it in its console only).
- ``SaveLoRA`` writes ``<prefix>_<counter:05>_.safetensors`` (``_<steps>_steps`` before the
  counter when its optional ``steps`` is given) into the output folder and reports nothing: the
  history entry has no output for it.
- ``LoraLoader.lora_name`` is a COMBO of the ``loras`` models; the server also lists the files
  of an input subfolder as loras when it is told to (``loras_from_input``, as an operator's
  ``extra_model_paths.yaml`` entry does).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import struct
from collections.abc import Iterable, Mapping
from typing import Any

JSON = dict[str, Any]
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
LORA_SUFFIXES = (".safetensors", ".pt", ".pth", ".ckpt", ".bin")


def _combo(options: list[Any], **extra: Any) -> list[Any]:
    return ["COMBO", {"options": options, "multiselect": False, **extra}]


def _spec(name: str, required: JSON, output: list[str], *, optional: JSON | None = None,
          output_node: bool = False, module: str = "comfy_extras.nodes_train") -> JSON:
    inputs: JSON = {"required": required}
    if optional:
        inputs["optional"] = optional
    return {
        "input": inputs,
        "input_order": {section: list(spec) for section, spec in inputs.items()},
        "output": output, "output_is_list": [False] * len(output), "output_name": list(output),
        "name": name, "display_name": name, "description": "", "python_module": module,
        "category": "training", "output_node": output_node, "experimental": True,
    }


def training_object_info(loras: list[str]) -> JSON:
    """The node classes of ComfyUI 0.3.75's training and LoRA-loading nodes."""
    int_ = "INT"
    nodes = [
        _spec("LoadImageTextDataSetFromFolder", {"folder": _combo([])}, ["IMAGE", "STRING"],
              module="comfy_extras.nodes_dataset"),
        _spec("TrainLoraNode", {
            "model": ["MODEL", {}], "latents": ["LATENT", {}], "positive": ["CONDITIONING", {}],
            "batch_size": [int_, {"default": 1, "min": 1, "max": 10000}],
            "grad_accumulation_steps": [int_, {"default": 1, "min": 1, "max": 1024}],
            "steps": [int_, {"default": 16, "min": 1, "max": 100000}],
            "learning_rate": ["FLOAT", {"default": 0.0005, "min": 1e-7, "max": 1.0}],
            "rank": [int_, {"default": 8, "min": 1, "max": 128}],
            "optimizer": _combo(["AdamW", "Adam", "SGD", "RMSprop"]),
            "loss_function": _combo(["MSE", "L1", "Huber", "SmoothL1"]),
            "seed": [int_, {"default": 0, "min": 0, "max": 0xFFFFFFFFFFFFFFFF}],
            "training_dtype": _combo(["bf16", "fp32"]),
            "lora_dtype": _combo(["bf16", "fp32"]),
            "algorithm": _combo(["LoRA", "LoHa", "LoKr", "OFT"]),
            "gradient_checkpointing": ["BOOLEAN", {"default": True}],
            "existing_lora": _combo([*loras, "[None]"]),
        }, ["MODEL", "LORA_MODEL", "LOSS_MAP", "INT"]),
        _spec("SaveLoRA", {"lora": ["LORA_MODEL", {}], "prefix": ["STRING", {}]}, [],
              optional={"steps": [int_, {}]}, output_node=True),
        _spec("LoraLoader", {
            "model": ["MODEL", {}], "clip": ["CLIP", {}], "lora_name": [list(loras), {}],
            "strength_model": ["FLOAT", {"default": 1.0, "min": -100.0, "max": 100.0}],
            "strength_clip": ["FLOAT", {"default": 1.0, "min": -100.0, "max": 100.0}],
        }, ["MODEL", "CLIP"], module="nodes"),
    ]
    return {node["name"]: node for node in nodes}


def input_subfolders(files: Iterable[tuple[str, str, str]]) -> list[str]:
    """Every folder under the input folder that holds a file, with its parents."""
    folders: set[str] = set()
    for kind, subfolder, _name in files:
        while kind == "input" and subfolder:
            folders.add(subfolder)
            subfolder = posixpath.dirname(subfolder)
    return sorted(folders)


def input_loras(files: Iterable[tuple[str, str, str]], folder: str | None) -> list[str]:
    """LoRA files under ``folder`` of the input folder, named relative to it."""
    if folder is None:
        return []
    found = []
    for kind, subfolder, name in files:
        if kind != "input" or not name.lower().endswith(LORA_SUFFIXES):
            continue
        if subfolder == folder or subfolder.startswith(folder + "/"):
            found.append(posixpath.join(subfolder[len(folder) + 1:], name))
    return sorted(found)


def with_live_choices(info: JSON, folders: list[str], loras: list[str]) -> JSON:
    """``info`` (a copy) with the COMBOs that ComfyUI lists afresh at every request."""
    dataset = info.get("LoadImageTextDataSetFromFolder")
    if dataset is not None:
        dataset["input"]["required"]["folder"] = _combo(folders)
    loader = info.get("LoraLoader")
    if loader is not None:
        loader["input"]["required"]["lora_name"] = [list(loras), {}]
    train = info.get("TrainLoraNode")
    if train is not None:
        train["input"]["required"]["existing_lora"] = _combo([*loras, "[None]"])
    return info


def dataset(files: Mapping[tuple[str, str, str], bytes], folder: str) -> list[tuple[bytes, str]]:
    """(image, caption) of each image directly in ``input/<folder>``."""
    out = []
    for (kind, subfolder, name), data in sorted(files.items()):
        if kind == "input" and subfolder == folder and name.lower().endswith(IMAGE_SUFFIXES):
            caption = files.get((kind, subfolder, posixpath.splitext(name)[0] + ".txt"), b"")
            out.append((data, caption.decode("utf-8", "replace").strip()))
    return out


def lora_file(items: list[tuple[bytes, str]], steps: int) -> bytes:
    """A real safetensors file: one 4-value F32 tensor derived from the dataset, metadata."""
    digest = hashlib.sha256()
    for image, caption in items:
        digest.update(hashlib.sha256(image).digest() + caption.encode())
    values = [b / 255 for b in digest.digest()[:4]]
    data = struct.pack("<4f", *values)
    header = {
        "__metadata__": {"steps": str(steps), "images": str(len(items)),
                         "captions": json.dumps([c for _, c in items])},
        "lora_unet_fake.lora_down.weight": {"dtype": "F32", "shape": [1, 4],
                                            "data_offsets": [0, len(data)]},
    }
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    return struct.pack("<Q", len(blob)) + blob + data


def saved_lora_name(existing: Iterable[str], base: str, steps: Any) -> str:
    """ComfyUI's ``get_save_image_path`` counter + SaveLoRA's file name."""
    counters = [0]
    for name in existing:
        if name.startswith(base + "_"):
            head = name[len(base) + 1:].split("_")[0]
            counters.append(int(head) if head.isdigit() else 0)
    counter = max(counters) + 1
    if isinstance(steps, int):
        return f"{base}_{steps}_steps_{counter:05}_.safetensors"
    return f"{base}_{counter:05}_.safetensors"
