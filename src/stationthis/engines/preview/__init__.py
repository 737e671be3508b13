"""The built-in preview engine: procedural images without a GPU, a model or a network."""

from stationthis.engines.preview import classify  # noqa: F401  (adds the "classify" procedure: the output check)
from stationthis.engines.preview.engine import PreviewEngine

__all__ = ["PreviewEngine"]
