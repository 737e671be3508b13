"""Text results of a ComfyUI run (the describe tool): ComfyUI saves no text itself, so a
display node (``ShowText|pysssss`` of ComfyUI-Custom-Scripts) returns it in the run's history
as ``{"text": [...]}``. The captions become prompts: one a line of a text/plain artifact."""

from __future__ import annotations

import re
from typing import Any

from stationthis.core.engine import Artifact

MAX_PROMPTS = 4
# What captioning models say that a prompt does not need.
_LEAD = re.compile(r"^(the|this|an?)\s+(image|picture|photo(graph)?)\s+(shows|depicts|is of)\s+",
                   re.IGNORECASE)


def texts(entry: dict[str, Any]) -> list[str]:
    """Every text a run's output nodes returned, in node order."""
    found: list[str] = []
    outputs = entry.get("outputs") or {}
    for node_id in sorted(outputs, key=lambda n: (len(str(n)), str(n))):
        output = outputs[node_id]
        values = output.get("text") if isinstance(output, dict) else None
        if isinstance(values, str):
            values = [values]
        for value in values or []:
            if isinstance(value, str) and value.strip():
                found.append(value)
    return found


def only_texts(entry: dict[str, Any]) -> bool:
    """A run whose outputs are texts and no image: a describe run (for a run picked up after
    a restart whose handle predates the recorded kind)."""
    outputs = [o for o in (entry.get("outputs") or {}).values() if isinstance(o, dict)]
    return bool(texts(entry)) and not any(o.get("images") for o in outputs)


def as_prompt(caption: str) -> str:
    text = " ".join(caption.replace("</s>", " ").replace("<s>", " ").split())
    text = _LEAD.sub("", text).strip(" .")
    return text[:1].lower() + text[1:] if text else ""


def prompts_artifact(job_id: str, captions: list[str], meta: dict[str, Any]) -> Artifact:
    prompts = [p for p in dict.fromkeys(as_prompt(c) for c in captions) if p][:MAX_PROMPTS]
    return Artifact("\n".join(prompts).encode("utf-8"), "text/plain", f"{job_id}.txt",
                    {**meta, "kind": "prompts"})
