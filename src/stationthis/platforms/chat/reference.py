"""/ref: a new picture from a prompt that follows a reference image — its edges (canny, the
default), the pose of its people, its depth, or its look (style) — as Telegram and Discord
share it. The kinds are the tools of the ``reference`` category, each named by its
``meta.preprocessor``; the command is a plain ``Make`` of that tool with the image as its
``image`` input, so pricing, limits and a server that lacks a node work as for any tool."""

from __future__ import annotations

from typing import Any

from stationthis.core.errors import InvalidInput
from stationthis.workflows.commands import Make, Requester
from stationthis.workflows.services import Services

DEFAULT_KIND = "canny"
IMAGE_INPUT = "image"


def kinds(app: Services) -> dict[str, str]:
    """Each reference kind this server offers → its tool's name (canny first)."""
    found = {str(t.meta.get("preprocessor") or t.name): t.name
             for t in app.tools.by_category("reference")}
    return dict(sorted(found.items(), key=lambda item: item[0] != DEFAULT_KIND))


def split_kind(app: Services, text: str) -> tuple[str | None, str]:
    """``pose a dancer`` → (``pose``, ``a dancer``); a prompt without a kind word → (None,
    the prompt)."""
    first, _, rest = text.strip().partition(" ")
    if first.lower() in kinds(app):
        return first.lower(), rest.strip()
    return None, text.strip()


def reference_tool(app: Services, kind: str | None) -> str:
    """The tool for a kind (None: the default, canny), or a clear refusal."""
    offered = kinds(app)
    if not offered:
        raise InvalidInput("This server has no reference tools.", input="tool")
    if kind is None:
        return offered.get(DEFAULT_KIND) or next(iter(offered.values()))
    tool = offered.get(kind.strip().lower())
    if tool is None:
        raise InvalidInput(f"Unknown reference kind {kind!r}: use one of "
                           f"{', '.join(offered)}.", input="kind")
    return tool


def reference(who: Requester, tool: str, media_id: str, prompt: str,
              options: dict[str, Any] | None = None) -> Make:
    """The command: ``tool`` on ``media_id`` with ``prompt`` (and its other ``options``)."""
    return Make(who, {**(options or {}), "prompt": prompt}, {IMAGE_INPUT: media_id}, tool)
