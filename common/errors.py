"""One exception tree, with retry meaning.

`TransientError` means "try again later": a Pub/Sub-triggered function re-raises
it so the message is redelivered. `TerminalError` means "this will never work":
the handler records it on the run document and acknowledges the message, so a
bad input does not turn into a retry storm (it still reaches the dead-letter
topic through the run's failure record).
"""

from __future__ import annotations

from typing import Any


class LeadRecoveryError(Exception):
    """Root of every error this project raises on purpose.

    Context travels in attributes (``where``, ``expected``, ``found``) so logs
    and run documents can show it structured, and ``str()`` reads as one line.
    """

    def __init__(
        self,
        message: str,
        *,
        where: str | None = None,
        expected: str | None = None,
        found: Any = None,
        **context: Any,
    ) -> None:
        self.message = message
        self.where = where
        self.expected = expected
        self.found = found
        self.context = context
        super().__init__(self.__str__())

    def __str__(self) -> str:
        parts = [f"{self.where}: {self.message}" if self.where else self.message]
        if self.expected is not None:
            parts.append(f"expected {self.expected}")
        if self.found is not None:
            parts.append(f"found {self.found!r}")
        return "; ".join(parts)

    def to_record(self) -> dict[str, Any]:
        """A JSON-safe description for run documents and structured logs."""
        return {
            "type": type(self).__name__,
            "message": str(self),
            "where": self.where,
        }


class TransientError(LeadRecoveryError):
    """A failure that may succeed on retry (timeouts, 429/5xx, a busy lease)."""


class TerminalError(LeadRecoveryError):
    """A failure that retrying cannot fix (bad recipe, bad payload, bad data)."""


class ConfigError(TerminalError):
    """Settings or credentials are missing or invalid."""


class RecipeError(TerminalError):
    """A recipe (meta.yml, its SQL or prompt files) is invalid."""


class PayloadError(TerminalError):
    """A message or HTTP body does not match its schema."""


class DataError(TerminalError):
    """Query results do not have the shape a step needs."""


class AttemptsExhausted(TerminalError):
    """A step failed on its last delivery attempt: recorded as failed for good, with its last error."""


class StuckError(TerminalError):
    """The sweeper found a step without progress past its lease and grace: failed for good."""


class StepWaiting(LeadRecoveryError):
    """Not a failure: the step handed work to something slow outside (a provider batch).

    `runner.run_once` records ``record`` on the step's mark with status
    ``waiting`` and acknowledges the message; the step is claimable again, and
    whoever finishes the outside work (the batch poller) re-delivers it.
    """

    def __init__(self, message: str, *, record: dict[str, Any], **kw: Any) -> None:
        super().__init__(message, **kw)
        self.record = record
