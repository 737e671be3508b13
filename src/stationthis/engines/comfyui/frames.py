"""What the ComfyUI engine reads from a server: frames as engine events, which images are a
run's outputs, and which node classes a job needs (pure functions, no I/O)."""

from __future__ import annotations

from typing import Any

from stationthis.core.engine import EngineEvent, JobSpec
from stationthis.engines.comfyui import messages, training
from stationthis.engines.comfyui.socket import Frame


def translate(frame: Frame) -> EngineEvent | None:
    """What a server frame means for the run, as an engine event (None: nothing to say)."""
    data = frame.data
    if frame.type == "execution_start":
        return EngineEvent("started")
    if frame.type == "executing" and data.get("node") is not None:
        return EngineEvent("progress", node=str(data.get("display_node") or data["node"]))
    if frame.type == "progress":
        return EngineEvent("progress", step=int(data.get("value", 0)),
                           total=int(data.get("max", 0)) or None,
                           node=str(data.get("node")) if data.get("node") else None)
    if frame.type == "preview" and frame.image:
        return EngineEvent("preview", preview=frame.image)
    if frame.type == "execution_success":
        return EngineEvent("done")
    if frame.type == "execution_error":
        return EngineEvent("error", message=messages.runtime(data))
    if frame.type == "execution_interrupted":
        return EngineEvent("cancelled")
    return None


def output_images(
    images: list[tuple[str, dict[str, Any]]]
) -> list[tuple[str, dict[str, Any]]]:
    """Saved images (type "output"); previews ("temp") only when nothing was saved."""
    saved = [(node, image) for node, image in images
             if image.get("type", "output") == "output"]
    return saved or [(node, image) for node, image in images
                     if image.get("type", "output") != "output"]

def media_type(filename: str) -> str:
    """What the file's name says it is (the media store checks the bytes themselves)."""
    suffix = filename.rsplit(".", 1)[-1].lower()
    return {"jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}.get(
        suffix, "image/png")


def needed_nodes(job: JobSpec) -> dict[str, str]:
    """Every node class the job's graph uses and what it is needed for, where the graph says
    (a node's ``_meta.title``): a server that lacks one is not chosen, and when none has it
    the job is refused by name before it runs (nothing is charged)."""
    needed: dict[str, str] = {}
    for node in (job.graph or {}).values():
        title = (node.get("_meta") or {}).get("title")
        needed.setdefault(str(node.get("class_type")), str(title or ""))
    for name in training.needed_nodes(job):
        needed[name] = "training: ComfyUI's built-in training nodes, as in 0.3.75"
    return needed
