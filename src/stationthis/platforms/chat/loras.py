"""/loras as Telegram and Discord share it: the servers' LoRAs (workflows/server_loras.py)
with their display names, trigger words and price factors, and how to use one — a
``<lora:Name:0.8>`` tag in a prompt, or a trigger word — a page at a time."""

from __future__ import annotations

from collections.abc import Sequence

from stationthis.core.server_loras import ServerLora
from stationthis.workflows.services import Services

PER_PAGE = 10
STRENGTH = 0.8  # the strength the examples suggest


async def server_loras(app: Services) -> list[ServerLora]:
    """The LoRAs users may name (hidden ones left out); none where the engine lists none."""
    catalog = app.server_loras
    return [] if catalog is None else await catalog.all()


def page_count(total: int, per_page: int = PER_PAGE) -> int:
    return max(1, -(-total // per_page))


def tag(lora: ServerLora, strength: float = STRENGTH) -> str:
    """What to write in a prompt to use ``lora``: ``<lora:Name:0.8>``."""
    return f"<lora:{lora.name}:{strength:g}>"


def lora_line(lora: ServerLora) -> str:
    triggers = ", ".join(lora.triggers)
    parts = [f"• {lora.name}", tag(lora)]
    if triggers:
        parts.append(f"triggers: {triggers}")
    if lora.price_factor != 1.0:
        parts.append(f"price ×{lora.price_factor:g}")
    return " · ".join(parts)


def loras_text(loras: Sequence[ServerLora], page: int, more: str,
               per_page: int = PER_PAGE) -> str:
    """One page (from 1; out of range: the nearest) of the list. ``more`` is the command
    for another page as the platform spells it, with ``{page}`` where its number goes."""
    if not loras:
        return ("This server's generation servers list no LoRAs. Your own trained models "
                "work the same way: see your models.")
    pages = page_count(len(loras), per_page)
    page = min(max(page, 1), pages)
    shown = loras[(page - 1) * per_page:page * per_page]
    head = f"🎛 The server's LoRAs ({len(loras)})"
    if pages > 1:
        head += f" — page {page} of {pages}"
    example = shown[0]
    how = (f"Use one in any prompt: {tag(example)} (0.8 is its strength, 0–1), or write one "
           "of its trigger words. A price ×N multiplies the price of the image.")
    lines = [head, "", *(lora_line(lora) for lora in shown), "", how]
    if page < pages:
        lines.append(f"More: {more.format(page=page + 1)}")
    return "\n".join(lines)
