"""The button actions of every chat platform: one table, one set of codes.

Each action names what its first id is (a ``job`` or a ``media`` item, for the ownership
check before anything runs) and, for an image action, the command it becomes. The result
buttons under every image are laid out here too (``result_layout``); each platform only
turns the layout into its own markup. Codes are short: Telegram's button data holds 64
bytes, and the ids travel with them (``codes.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stationthis.workflows.commands import (
    Command,
    Pan,
    Regenerate,
    Requester,
    Upscale,
    Vary,
    ZoomOut,
)

if TYPE_CHECKING:
    from stationthis.workflows.services import Services


@dataclass(frozen=True)
class Action:
    code: str
    label: str  # the button's text under a single image
    icon: str  # its text in a numbered row of a batch: "{icon} {n}"
    target: str  # "job" or "media": what the first id names
    command: Callable[[Requester, str], Command] | None = None  # an image action
    ids: int = 1  # how many parts its data carries (the first is ``target``)


ACTIONS = {a.code: a for a in (
    Action("r", "🔄 Regenerate", "🔄", "job", lambda who, job: Regenerate(who, job)),
    Action("u", "⬆️ Upscale", "⬆️", "media", lambda who, media: Upscale(who, media)),
    Action("v", "🎲 Variations", "🎲", "media", lambda who, media: Vary(who, media)),
    Action("zo", "🔍 Zoom out", "🔍", "media", lambda who, media: ZoomOut(who, media)),
    Action("z2", "🔍 ×2", "🔍×2", "media", lambda who, media: ZoomOut(who, media, 2.0)),
    Action("pl", "⬅️ Pan", "⬅️", "media", lambda who, media: Pan(who, media, "left")),
    Action("pu", "⬆️ Pan", "⬆️", "media", lambda who, media: Pan(who, media, "up")),
    Action("pr", "➡️ Pan", "➡️", "media", lambda who, media: Pan(who, media, "right")),
    Action("pd", "⬇️ Pan", "⬇️", "media", lambda who, media: Pan(who, media, "down")),
    Action("d", "📁 Add to dataset", "📁", "media"),
    Action("ca", "📚 Add to collection", "📚", "media"),
    Action("c", "✖️ Cancel", "✖️", "job"),
    Action("da", "📁 Add", "📁", "media"),  # + the dataset (an id or the select's value)
    Action("cas", "📚 Add", "📚", "media"),  # the collection select under 📚 (Discord)
    Action("ir", "🖌 Vary region", "🖌", "media"),  # a link into the web painter (PAINTER)
    # a prompt of a describe job made (chat/describe.py): the job and the prompt's index
    Action("dr", "▶️ Run this", "▶️", "job", ids=2),
)}
# The web page where a mask is painted on an image to inpaint it ("vary region").
PAINTER = "/media/{media_id}/inpaint"
# Codes that buttons on old messages still carry: Telegram's 📚 was "k" before 0021.
ALIASES = {"k": "ca"}
# Under a single image: three rows — 🔄 ⬆️ 🎲; the zoom outs (×1.5, ×2), 📁 📚; the four pans.
# Under a batch: 🔄 for the job, then one row of these per image (Discord allows five buttons
# a row and five rows: the ×2 zoom and the pans are under each single result).
SINGLE = (("r", "u", "v"), ("zo", "z2", "d", "ca"), ("pl", "pu", "pr", "pd"))
PER_IMAGE = ("u", "v", "zo", "d", "ca")


def action_of(code: str) -> Action | None:
    return ACTIONS.get(ALIASES.get(code, code))


def code_of(code: str) -> str:
    """The current code of an action (an old alias becomes its code)."""
    return ALIASES.get(code, code)


@dataclass(frozen=True)
class Key:
    """One button of a layout: its text, action code and id; ``url``: a link button."""

    text: str
    code: str
    object_id: str
    url: str | None = None


def painter_url(web: str, media_id: str) -> str:
    """The web painter of an image (``web``: the web app's public address)."""
    return web.rstrip("/") + PAINTER.format(media_id=media_id)


def painter_base(app: Services) -> str | None:
    """Where results link to the web painter (🖌 Vary region): the web app's public
    address, when one is set (a chat cannot open a listening address) and a tool inpaints."""
    url = app.settings.public_url or ""
    if not url.startswith(("https://", "http://")) or not app.tools.by_category("inpaint"):
        return None
    return url.rstrip("/")


def result_layout(job_id: str, media_ids: Sequence[str], max_images: int | None = None,
                  web: str | None = None) -> list[list[Key]]:
    """The rows of buttons under a result: ``max_images`` numbered rows at most. With
    ``web`` (the web app's public address), a single image also gets 🖌 Vary region: a link
    to its mask painter (sign-in first where the browser has no session)."""
    def key(code: str, media: str, text: str | None = None) -> Key:
        action = ACTIONS[code]
        return Key(text or action.label, code, job_id if action.target == "job" else media)

    if len(media_ids) == 1:
        rows = [[key(code, media_ids[0]) for code in line] for line in SINGLE]
        if web:
            rows[0].append(Key(ACTIONS["ir"].label, "ir", media_ids[0],
                               painter_url(web, media_ids[0])))
        return rows
    rows = [[Key("🔄 Regenerate all", "r", job_id)]]
    for number, media in enumerate(media_ids[:max_images], start=1):
        rows.append([key(code, media, f"{ACTIONS[code].icon} {number}") for code in PER_IMAGE])
    return rows
