"""LoRA training on a ComfyUI server with its built-in training nodes.

The ``train`` tool's graph loads a dataset folder (``LoadImageTextDataSetFromFolder``: every
image of an input subfolder, with the same-stem ``.txt`` file as its caption), trains
(``TrainLoraNode``, one ``progress`` frame per step) and writes the LoRA (``SaveLoRA``) into the
output folder. So the engine:

1. uploads the job's images and captions into ``<input>/stationthis_train/<job id>/``
   (``POST /upload/image`` stores any file as it is) and points the loader at that folder;
2. gives ``SaveLoRA`` a prefix of its own for this attempt, ``stationthis_loras/<job id>-<n>/lora``
   (a fresh folder, so ComfyUI's file counter is 1 and the file name is known);
3. after the run, reads that prefix back from the history entry's graph and fetches
   ``lora_00001_.safetensors`` with ``GET /view?type=output`` — SaveLoRA reports no output.

The server keeps the uploaded dataset and the LoRA file; ComfyUI has no route to delete them.
"""

from __future__ import annotations

import posixpath
import re
import uuid
from typing import Any

from stationthis.core.engine import Artifact, JobSpec
from stationthis.core.errors import EngineFailed
from stationthis.engines.comfyui.client import ComfyClient
from stationthis.engines.comfyui.http import HttpStatus

DATASET_NODE = "LoadImageTextDataSetFromFolder"
TRAIN_NODE = "TrainLoraNode"
SAVE_NODE = "SaveLoRA"
NODES = (DATASET_NODE, TRAIN_NODE, SAVE_NODE)
DATASET_ROOT = "stationthis_train"
LORA_ROOT = "stationthis_loras"
_SUFFIX = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}


def is_training(job: JobSpec) -> bool:
    return job.category == "train"


def needed_nodes(job: JobSpec) -> list[str]:
    """The training node classes a training job's graph uses (none for other jobs)."""
    if not is_training(job) or not job.graph:
        return []
    classes = {str(node.get("class_type")) for node in job.graph.values()}
    return [name for name in NODES if name in classes]


def _nodes(graph: dict[str, Any], class_type: str) -> list[dict[str, Any]]:
    return [node for node in graph.values() if node.get("class_type") == class_type]


def caption(text: str, trigger: str) -> str:
    """The caption with the trigger word in it (added in front when missing)."""
    text = " ".join(text.split())
    if not trigger or trigger.lower() in text.lower().split():
        return text or trigger
    return f"{trigger}, {text}" if text else trigger


async def prepare(client: ComfyClient, job: JobSpec, graph: dict[str, Any]) -> None:
    """Upload the dataset and point the graph at it and at a fresh LoRA prefix (in place)."""
    if not job.images:
        raise EngineFailed("training needs at least one image")
    loaders, savers = _nodes(graph, DATASET_NODE), _nodes(graph, SAVE_NODE)
    if not loaders or not savers or not _nodes(graph, TRAIN_NODE):
        raise EngineFailed(
            f"the tool {job.tool!r} is not a ComfyUI training workflow (it needs "
            f"{DATASET_NODE}, {TRAIN_NODE} and {SAVE_NODE} nodes)"
        )
    captions = job.params.get("captions") or {}
    if not isinstance(captions, dict):
        raise EngineFailed("captions must map image names to text")
    trigger = " ".join(str(job.params.get("trigger") or "").split())
    folder = f"{DATASET_ROOT}/{_safe(job.job_id)}"
    try:
        for number, name in enumerate(sorted(job.images, key=_order), start=1):
            image = job.images[name]
            stem = f"{number:03d}"
            await client.upload_file(image.data, stem + _SUFFIX.get(image.media_type, ".png"),
                                     subfolder=folder, media_type=image.media_type)
            text = caption(str(captions.get(name) or ""), trigger)
            await client.upload_file(text.encode("utf-8"), stem + ".txt", subfolder=folder,
                                     media_type="text/plain")
    except HttpStatus as exc:
        raise EngineFailed(
            f"the ComfyUI server refused the training images (HTTP {exc.status_code} "
            "from /upload/image)"
        ) from None
    for node in loaders:
        node.setdefault("inputs", {})["folder"] = folder
    attempt = uuid.uuid4().hex[:8]
    for index, node in enumerate(savers):
        inputs = node.setdefault("inputs", {})
        inputs["prefix"] = f"{LORA_ROOT}/{_safe(job.job_id)}-{attempt}/lora{index or ''}"
        inputs.pop("steps", None)  # the steps would go into the file name; we name it ourselves


def saved_files(entry: dict[str, Any]) -> list[tuple[str, str]]:
    """(subfolder, filename) of each LoRA the run's SaveLoRA nodes wrote, from the graph kept
    in the history entry (``prompt`` = [number, id, graph, extra, outputs])."""
    prompt = entry.get("prompt")
    graph = prompt[2] if isinstance(prompt, list) and len(prompt) > 2 else None
    if not isinstance(graph, dict):
        return []
    files = []
    for node in _nodes(graph, SAVE_NODE):
        inputs = node.get("inputs") or {}
        prefix = posixpath.normpath(str(inputs.get("prefix") or "loras/ComfyUI_trained_lora"))
        steps = inputs.get("steps")
        base = posixpath.basename(prefix)
        name = f"{base}_{steps}_steps_00001_" if isinstance(steps, int) else f"{base}_00001_"
        files.append((posixpath.dirname(prefix), name + ".safetensors"))
    return files


async def fetch(client: ComfyClient, job_id: str, entry: dict[str, Any],
                meta: dict[str, Any]) -> list[Artifact]:
    """The trained LoRA file(s) of a finished run, as artifacts."""
    files = saved_files(entry)
    if not files:
        raise EngineFailed("the training workflow has no SaveLoRA node, so no LoRA was saved")
    artifacts = []
    for subfolder, filename in files:
        try:
            data = await client.view(filename, subfolder, "output")
        except HttpStatus as exc:
            raise EngineFailed(
                f"ComfyUI finished the training but there is no LoRA file at "
                f"output/{subfolder}/{filename} (HTTP {exc.status_code})"
            ) from None
        if not data:
            raise EngineFailed(f"ComfyUI saved an empty LoRA file at output/{subfolder}/{filename}")
        artifacts.append(Artifact(data, "application/octet-stream", f"{job_id}.safetensors",
                                  meta={**meta, "kind": "lora", "file": f"{subfolder}/{filename}"}))
    return artifacts


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:80] or "job"


def _order(name: str) -> tuple[int, str]:
    return (int(name), name) if name.isdigit() else (1 << 30, name)
