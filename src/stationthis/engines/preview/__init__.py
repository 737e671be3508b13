"""The built-in preview engine: procedural images without a GPU, a model or a network."""

from .engine import PreviewEngine

__all__ = ["PreviewEngine"]
