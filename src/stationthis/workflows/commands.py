"""Image commands: what a person asks for, on any platform, as plain values.

A platform builds a command (``Make``, ``Regenerate``, ``Vary``, ``Tweak``, ``Upscale``,
``RemoveBackground``, ``ZoomOut``, ``Pan``, ``Inpaint``) with its ``Requester`` and hands it to
``MakeImage.offer``, which plans it into a ``Plan`` (a request and its lineage), prepares it
once (settings, limits, prompt filter), decides who pays and prices it for them: an
``Offer``. ``MakeImage.start(offer, reply=…)`` then holds the points and queues the job —
without preparing again.

A new image action is one command here, one planner registered with ``MakeImage.plans``
(``Again`` registers its own), one action code in ``platforms/chat/actions.py`` and the
markup of each platform (docs/decisions/0021-chat-kernel.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stationthis.core.replies import Reply
from stationthis.core.users import Account

if TYPE_CHECKING:
    from stationthis.core.tools import Tool
    from stationthis.workflows.make_image import Quote, Request

VARIATION_STRENGTH = 0.5
ZOOM_OUT = 1.5  # the zoom out button: the result is this many times the image's size
ZOOM_OUTS = (1.5, 2.0)  # the zoom outs offered as buttons and actions
PAN = 0.5  # a pan extends one side by this share of the image's size
PAN_DIRECTIONS = ("left", "up", "right", "down")


@dataclass(frozen=True)
class Requester:
    """Who asks (``user``), where (``group``: a Telegram group or Discord server, else None)
    and where the job reports (``reply``: a platform's address; a chat passes it to
    ``start`` once its status message exists)."""

    user: Account
    group: Account | None = None
    reply: Reply | None = None


@dataclass(frozen=True)
class Make:
    """A new image. ``tool`` None: the requester's default text-to-image tool."""

    requester: Requester
    options: dict[str, Any] = field(default_factory=dict)
    images: dict[str, str] = field(default_factory=dict)  # input name -> media id
    tool: str | None = None


@dataclass(frozen=True)
class Regenerate:
    """The same job again with a new random seed."""

    requester: Requester
    job_id: str


@dataclass(frozen=True)
class Vary:
    """An image-to-image variation of an output (or of an upload, given a prompt)."""

    requester: Requester
    media_id: str
    strength: float = VARIATION_STRENGTH
    prompt: str | None = None


@dataclass(frozen=True)
class Tweak:
    """The same job with some parameters changed."""

    requester: Requester
    job_id: str
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Upscale:
    requester: Requester
    media_id: str
    scale: int = 2


@dataclass(frozen=True)
class RemoveBackground:
    requester: Requester
    media_id: str


@dataclass(frozen=True)
class ZoomOut:
    """The image on a canvas ``factor`` times its size, the new border filled in."""

    requester: Requester
    media_id: str
    factor: float = ZOOM_OUT


@dataclass(frozen=True)
class Pan:
    """The image extended on one side (``direction``: left, up, right or down) by ``share``
    of its size there, the new part filled in."""

    requester: Requester
    media_id: str
    direction: str
    share: float = PAN


@dataclass(frozen=True)
class Inpaint:
    """The region of an image that ``mask`` (a media id: an image of the same size, white
    where to repaint) marks, repainted from ``prompt``; the rest is kept. ``options``: the
    inpaint tool's other inputs (negative, seed, steps, grow, cfg)."""

    requester: Requester
    media_id: str
    mask: str
    prompt: str
    options: dict[str, Any] = field(default_factory=dict)


Command = (Make | Regenerate | Vary | Tweak | Upscale | RemoveBackground | ZoomOut | Pan
           | Inpaint)


@dataclass(frozen=True)
class Plan:
    """A request ready for ``MakeImage`` and where it comes from (``origin`` None: new)."""

    request: Request
    parent_id: str | None = None
    origin: str | None = None


@dataclass(frozen=True)
class Offer:
    """A planned, prepared and priced command: what ``start`` runs. ``quote`` is for
    ``payer`` (the requester, or their group by its policy)."""

    requester: Requester
    plan: Plan
    quote: Quote
    payer: Account
    tool: Tool
    params: dict[str, Any]
    inputs: dict[str, str]

    @property
    def fits(self) -> bool:
        return self.quote.fits

    @property
    def paid_by_group(self) -> bool:
        return self.payer.id != self.requester.user.id
