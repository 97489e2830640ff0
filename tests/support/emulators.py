"""The emulators the tests start: the same launcher as `make dev` (common/dev/emulators.py)."""

from common.dev.emulators import (
    ALL,
    FIRESTORE,
    GCS,
    INSTALL_HINT,
    PUBSUB,
    START_TIMEOUT_S,
    TEST_JAVA_OPTIONS,
    Emulator,
    EmulatorError,
    EmulatorPool,
    free_port,
    start,
)

__all__ = [
    "ALL",
    "FIRESTORE",
    "GCS",
    "INSTALL_HINT",
    "PUBSUB",
    "START_TIMEOUT_S",
    "TEST_JAVA_OPTIONS",
    "Emulator",
    "EmulatorError",
    "EmulatorPool",
    "free_port",
    "start",
]
