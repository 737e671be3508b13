"""What we send to ComfyUI Deploy and what we take from its run records.

Inputs are the deployment's external inputs, named as our tools' public inputs. Images go
inline as data URLs (``data:image/png;base64,…``): the API notes we work from document no
upload route, and ComfyUI Deploy's external image inputs take a URL or a base64 data URL
alike. Our images are re-encoded PNGs of bounded size (the hardened loader), so the request
stays reasonable; a deployment that needs huge inputs would need an upload route instead.
"""

from __future__ import annotations

import json
import posixpath
from base64 import b64encode
from typing import Any
from urllib.parse import urlsplit

from stationthis.core.engine import JobSpec


def deployment_inputs(job: JobSpec) -> dict[str, Any]:
    """The deployment's external inputs: public params (lists comma-joined, unset values left
    to the deployment's defaults) and images as data URLs."""
    inputs: dict[str, Any] = {}
    for name, value in job.params.items():
        if name.startswith("_") or value is None:
            continue
        if isinstance(value, list | tuple):
            value = ",".join(str(item) for item in value)
        elif isinstance(value, dict):
            value = json.dumps(value)
        inputs[name] = value
    for name, image in job.images.items():
        inputs[name] = f"data:{image.media_type};base64,{b64encode(image.data).decode('ascii')}"
    return inputs


def output_images(record: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(node id, image entry) for every output image with a URL, in order, once each."""
    found: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for output in record.get("outputs") or []:
        if not isinstance(output, dict) or not isinstance(output.get("data"), dict):
            continue
        for image in output["data"].get("images") or []:
            url = image.get("url") if isinstance(image, dict) else None
            if isinstance(url, str) and url and url not in seen:
                seen.add(url)
                found.append((str(output.get("node_id", "")), image))
    return found


def file_name(image: dict[str, Any]) -> str:
    """A bare file name for an output: its ``filename``, else the last part of its URL."""
    name = image.get("filename")
    if not isinstance(name, str) or not name:
        name = urlsplit(image["url"]).path
    return posixpath.basename(name.replace("\\", "/")) or "output.png"


def without_query(url: str) -> str:
    return urlsplit(url)._replace(query="", fragment="").geturl()
