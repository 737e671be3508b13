"""A user's trained LoRAs on a ComfyUI server: put the file where the server can see it, and
load it in the graph between the checkpoint loader and everything that uses its model and clip.

ComfyUI has no endpoint for uploading models. We upload the file as an *input* file under a
content-addressed name (``st-<sha256 prefix>.safetensors``) into the subfolder
``loras_subfolder`` of the server's input folder, and the operator lists that folder among the
server's ``loras`` search paths in ``extra_model_paths.yaml`` (docs/decisions/0011). The
server re-lists a model folder when its modification time changes, so an uploaded file is
usable at once. The same file is uploaded once per server, whoever trains or uses it.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import struct
from typing import Any

from stationthis.core.errors import EngineFailed
from stationthis.engines.comfyui.http import HttpStatus
from stationthis.engines.comfyui.pool import Server

CHECKPOINT_LOADERS = ("CheckpointLoaderSimple", "CheckpointLoader", "ImageOnlyCheckpointLoader")
LORA_NODE = "LoraLoader"


def file_name(data: bytes) -> str:
    """The content-addressed name a LoRA file gets on every server."""
    return f"st-{hashlib.sha256(data).hexdigest()[:24]}.safetensors"


def is_safetensors(data: bytes) -> bool:
    """Whether ``data`` starts like a safetensors file (8-byte length + JSON header)."""
    if len(data) < 10:
        return False
    (size,) = struct.unpack("<Q", data[:8])
    if size < 2 or 8 + size > len(data):
        return False
    try:
        return isinstance(json.loads(data[8 : 8 + size]), dict)
    except ValueError:
        return False


def setup_hint(server: Server, subfolder: str) -> str:
    return (
        f"the ComfyUI server {server.url} cannot see the LoRA files StationThis uploads: add "
        f"its input folder's '{subfolder}' subfolder to its 'loras' paths in "
        f"extra_model_paths.yaml (e.g. 'stationthis:\\n  loras: <ComfyUI>/input/{subfolder}') "
        "and restart it"
    )


async def _listed(server: Server, name: str) -> str | None:
    """The server's own name for the LoRA file ``name`` (it may sit in a subfolder of a search
    path), or None when the server does not list it."""
    names = await server.client.models("loras")
    server.models["loras"] = set(names)
    for listed in names:
        if posixpath.basename(listed.replace("\\", "/")) == name:
            return listed
    return None


async def make_available(
    server: Server, assets: dict[str, bytes], wanted: list[str], subfolder: str
) -> dict[str, str]:
    """Each wanted LoRA (by our model name) → the ``lora_name`` the server knows it by,
    uploading the files it does not list yet. Raises EngineFailed with the fix when the
    server does not see uploaded files."""
    found: dict[str, str] = {}
    try:
        for model in wanted:
            data = assets.get(model)
            if data is None:
                raise EngineFailed(f"the LoRA '{model}' was not provided with the job")
            if not is_safetensors(data):
                raise EngineFailed(
                    f"'{model}' is not a LoRA file (models trained by the preview engine are "
                    "style profiles and work only on the preview engine)"
                )
            name = file_name(data)
            listed = await _listed(server, name)
            if listed is None:
                await server.client.upload_file(data, name, subfolder=subfolder)
                listed = await _listed(server, name)
            if listed is None:
                raise EngineFailed(setup_hint(server, subfolder))
            found[model] = listed
    except HttpStatus as exc:
        raise EngineFailed(
            f"the ComfyUI server {server.url} refused the LoRA upload "
            f"(HTTP {exc.status_code})"
        ) from None
    return found


def insert_loras(graph: dict[str, Any], loras: list[tuple[str, float]]) -> dict[str, Any]:
    """``graph`` with one LoraLoader per (lora_name, strength), chained after every checkpoint
    loader; whatever used the loader's MODEL (output 0) or CLIP (output 1) now uses the last
    LoRA's. Model and clip get the same strength. The graph is changed in place and returned."""
    if not loras:
        return graph
    loaders = [nid for nid, node in graph.items() if node.get("class_type") in CHECKPOINT_LOADERS]
    if not loaders:
        raise EngineFailed("this tool's workflow has no checkpoint loader to apply a LoRA to")
    for loader in loaders:
        model: list[Any] = [loader, 0]
        clip: list[Any] = [loader, 1]
        added = []
        for index, (lora_name, strength) in enumerate(loras):
            node_id = f"stationthis_lora_{loader}_{index}"
            graph[node_id] = {
                "class_type": LORA_NODE,
                "inputs": {"model": model, "clip": clip, "lora_name": lora_name,
                           "strength_model": strength, "strength_clip": strength},
                "_meta": {"title": f"LoRA {lora_name}"},
            }
            added.append(node_id)
            model, clip = [node_id, 0], [node_id, 1]
        for node_id, node in graph.items():
            if node_id in added:
                continue
            inputs = node.get("inputs") or {}
            for key, value in inputs.items():
                if value == [loader, 0]:
                    inputs[key] = list(model)
                elif value == [loader, 1]:
                    inputs[key] = list(clip)
    return graph


def strengths(params: dict[str, Any], names: list[str]) -> dict[str, float]:
    """Each LoRA's strength: ``lora_scales`` (name → number, −4…4), default 1."""
    given = params.get("lora_scales") or {}
    if not isinstance(given, dict):
        raise EngineFailed("lora_scales must map LoRA names to numbers")
    out = {}
    for name in names:
        try:
            value = float(given.get(name, 1.0))
        except (TypeError, ValueError):
            raise EngineFailed(f"the strength of LoRA '{name}' must be a number") from None
        if not -4.0 <= value <= 4.0:
            raise EngineFailed(f"the strength of LoRA '{name}' must be between -4 and 4")
        out[name] = value
    return out


async def server_files(server: Server) -> list[str]:
    """The LoRA files a server lists in ``LoraLoader``'s ``lora_name`` choices."""
    info = await server.client.node_info(LORA_NODE)
    required = (info.get("input") or {}).get("required") or {}
    spec = required.get("lora_name")
    choices = spec[0] if isinstance(spec, list) and spec else []
    return [str(name) for name in choices] if isinstance(choices, list) else []


def server_wanted(params: dict[str, Any]) -> dict[str, str]:
    """The server LoRAs a job names (``server_loras``: name → the server's file name)."""
    given = params.get("server_loras") or {}
    if not isinstance(given, dict):
        raise EngineFailed("server_loras must map LoRA names to file names")
    return {str(name): str(file_name) for name, file_name in given.items()}
