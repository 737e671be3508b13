"""The diffusers engine: Stable Diffusion generation and LoRA training on this machine.

Needs the ``local`` extra (torch, diffusers, peft, transformers, safetensors) to run jobs;
importing this package does not import any of them.
"""

from stationthis.engines.diffusers.engine import DiffusersEngine

__all__ = ["DiffusersEngine"]
