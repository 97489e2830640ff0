"""The small interfaces every step talks to; adapters live in `common.adapters`."""

from common.ports.blobstore import BlobNotFound, BlobStore, GenerationMismatch, Versioned
from common.ports.bus import Bus
from common.ports.statestore import StateStore, StepKey, StepStatus
from common.ports.warehouse import Warehouse

__all__ = [
    "BlobNotFound",
    "BlobStore",
    "Bus",
    "GenerationMismatch",
    "StateStore",
    "StepKey",
    "StepStatus",
    "Versioned",
    "Warehouse",
]
