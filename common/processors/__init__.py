"""Feature processors: registered by name, configured by the recipe's `python_processors`."""

from common.processors.base import Column, Processor, ProcessorContext, ProcessorParams
from common.processors.registry import build, register, registry, resolve

__all__ = [
    "Column",
    "Processor",
    "ProcessorContext",
    "ProcessorParams",
    "build",
    "register",
    "registry",
    "resolve",
]
