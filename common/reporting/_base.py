"""What every report sink shares: the finished run it reads, the sink interface, the no-op sink.

The sinks (`html`, `gsheets`, `webhooks`) import these from here, and the
registry (`common.reporting.sinks`) imports the sinks: no module of the
package imports the registry back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import polars as pl

    from common.ports.blobstore import BlobStore
    from common.recipe import Recipe
    from common.settings import Settings


@dataclass(frozen=True)
class ReportContext:
    """Everything a sink may read about one finished run."""

    run_id: str
    recipe: Recipe
    run: Mapping[str, Any]
    """The run document merged with the report step's summary (status, rows, seconds, llm)."""
    analysis: pl.DataFrame
    """The analysis CSV's rows and columns."""
    ignored: pl.DataFrame
    """The ignored leads (``lead_key``, ``ignore_reason``, ...)."""
    outputs: dict[str, str]
    """Links to the outputs; sinks add theirs (``html``, ``sheet``) for the sinks after them."""
    settings: Settings
    blobs: BlobStore
    stamp: str
    """The run's output folder name (`layout.run_folder`: ``YYYY-MM-DDTHH-MM-SS_<run_id>``)."""
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The records of the sinks that already ran, by name (the webhook payload lists them)."""
    delivered: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """What an earlier attempt of this report delivered, by sink (`DELIVERIES` on the run
    document): a retried report does not deliver it again (webhooks: per target)."""

    @property
    def status(self) -> str:
        """The run's status as the report step decided it (``succeeded`` or ``partial``)."""
        return str(self.run.get("status", "succeeded"))


class ReportSink(Protocol):
    """One destination of the report."""

    @property
    def name(self) -> str:
        """The sink's registry name (``html``, ``gsheets``, ``webhooks``)."""
        ...

    def publish(self, context: ReportContext) -> dict[str, Any]:
        """Deliver the report; return a JSON-able record for the run document.

        Must not raise for delivery failures (network, quota, permissions,
        configuration): it returns ``{"status": "failed", "error": ...}``.
        """
        ...


@dataclass(frozen=True)
class SkippedSink:
    """A sink the recipe does not use: a real no-op component."""

    name: str
    reason: str

    def publish(self, context: ReportContext) -> dict[str, Any]:
        """Record that nothing was sent, and why."""
        return {"status": "skipped", "reason": self.reason}
