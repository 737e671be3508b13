"""The servers' LoRAs: what can be named in ``loras``, a ``<lora:name:0.8>`` tag, or called
by a trigger word, with each one's price factor."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from stationthis.core.server_loras import ServerLora
from stationthis.platforms.web.auth import station

router = APIRouter(prefix="/api/v1/loras", tags=["tools"])


class LoraOut(BaseModel):
    name: str = Field(description="what to write in loras or <lora:name:strength>")
    file_name: str = Field(description="the file on the servers")
    triggers: list[str] = Field(description="words that apply it when in a prompt")
    preview: str | None = Field(None, description="an https image URL")
    price_factor: float = Field(description="the price of a request using it is multiplied "
                                "by this")


def lora_out(lora: ServerLora) -> LoraOut:
    return LoraOut(name=lora.name, file_name=lora.file_name, triggers=list(lora.triggers),
                   preview=lora.preview, price_factor=lora.price_factor)


@router.get("", response_model=list[LoraOut])
async def list_loras(request: Request) -> list[LoraOut]:
    """The LoRAs the generation servers have (hidden ones left out)."""
    catalog = station(request).server_loras
    return [] if catalog is None else [lora_out(lora) for lora in await catalog.all()]
