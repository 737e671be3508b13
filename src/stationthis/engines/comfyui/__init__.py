"""The ComfyUI engine: a pool of self-hosted ComfyUI servers over HTTP + websocket."""

from stationthis.engines.comfyui.engine import ComfyUIEngine
from stationthis.engines.comfyui.pool import ServerPool

__all__ = ["ComfyUIEngine", "ServerPool"]
