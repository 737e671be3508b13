"""The built-in preview engine: procedural images without a GPU, a model or a network."""

from . import classify  # noqa: F401  (adds the "classify" procedure: the output check)
from .engine import PreviewEngine

__all__ = ["PreviewEngine"]
