"""The ComfyUI Deploy engine: runs tools on deployments of the hosted ComfyUI Deploy API."""

from stationthis.engines.comfydeploy.engine import ComfyDeployEngine

__all__ = ["ComfyDeployEngine"]
