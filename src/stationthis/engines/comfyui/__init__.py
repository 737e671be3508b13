"""The ComfyUI engine: a pool of self-hosted ComfyUI servers over HTTP + websocket."""

from .engine import ComfyUIEngine
from .pool import ServerPool

__all__ = ["ComfyUIEngine", "ServerPool"]
