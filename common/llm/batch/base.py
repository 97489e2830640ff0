"""What every provider batch interface shares: the `BatchProvider` protocol and its results.

The implementations (`common.llm.batch.providers.OpenAIBatch`,
`common.llm.batch.gemini.GeminiBatch`) import these; the registry
(`build_batch_provider`) imports the implementations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from common.llm.providers.base import LLMRequest

ENDED = frozenset({"completed", "expired", "failed", "cancelled"})
"""Batch states after which nothing more will be answered."""


@dataclass(frozen=True)
class BatchItem:
    """One request's outcome in an ended batch: the answer text, or why there is none."""

    custom_id: str
    text: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-able."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class BatchStatus:
    """Where a provider batch stands; ``items`` once it has ended."""

    batch_id: str
    state: str
    """The provider's state, normalised: ``running`` or one of `ENDED`."""
    items: list[BatchItem] | None = None

    @property
    def ended(self) -> bool:
        """Nothing more will be answered."""
        return self.state in ENDED


class BatchProvider(Protocol):
    """A provider's batch interface."""

    name: str

    def submit(
        self, requests: list[tuple[str, LLMRequest]], *, label: str, prefix: str | None = None
    ) -> tuple[str, str]:
        """Submit the requests as one batch; returns (batch id, key fingerprint).

        ``prefix`` is the BlobStore folder of this batch (``runs/<run_id>/batches/...``)
        for providers that read their input from the run's bucket.
        """
        ...

    def fetch(self, batch_id: str, *, key_id: str | None) -> BatchStatus:
        """How the batch stands; its items once it has ended."""
        ...
