"""Batch mode: a shard's cache misses answered by the provider's batch interface, at half price.

``llm.batch`` in the recipe: ``never`` (default: one online call each),
``always``, or ``auto`` (batch when a shard has at least
``llm.batch_min_requests`` cache misses, default 200). Only mode ``analyze``
batches (a multi-stage mode would wait one batch per stage).

Lifecycle of one shard (see docs/architecture.md, "Batch mode"):

1. summarize finds its misses and, instead of calling the model, submits them
   as one provider batch (`BatchRouter.run`): the batch is recorded in the
   shard's batch state (``runs/<run_id>/batches/summarize-shard-N/state.json``:
   provider, batch id, the cache keys it answers, submitted_at) and on the
   step mark (`StateStore.wait_step`: status ``waiting``). The step raises
   `BatchPending`; `runner.run_once` acknowledges the message without marking
   the shard done.
2. The poller (`common.steps.batches.poll_batches`: ``lead-recovery batches
   poll``, a Cloud Scheduler job, the local runner) asks the provider about each
   waiting shard's batch; once the batch has ended it writes its items to
   ``round-N.results.jsonl`` beside the state and re-publishes the shard's
   message (any shard whose batches have all ended is re-published:
   idempotent).
3. The re-delivered shard validates each collected answer as online answers
   are (one online repair request for an invalid one), writes the valid ones
   to the summary cache, and finishes. Items a batch failed or left unanswered
   (it expired) are resubmitted **once** in a new batch (back to 1); what fails
   again is ignored with the reason ``llm batch item failed: …``.

A redelivered message of a waiting shard claims the step, finds its batch
still pending in the state and waits again: nothing is submitted twice.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from common.errors import StepWaiting
from common.llm.items import AnalysisStats, Outcome, count_batch
from common.llm.providers.base import LLMRequest, LLMResponse

if TYPE_CHECKING:
    from common.llm.batch.base import BatchProvider
    from common.ports.blobstore import BlobStore

log = logging.getLogger(__name__)

AUTO_MIN_REQUESTS = 200
"""Default of ``llm.batch_min_requests``: with ``batch: auto``, a shard with at least this
many cache misses goes through the batch interface."""
WAIT_LIMIT = timedelta(hours=26)
"""Providers end a batch within 24 h (expired at worst); past this the sweeper may fail it."""
RESUBMITS = 1
"""How many more batches an unanswered item gets before it is ignored."""
FAILED = "llm batch item failed"


class BatchPending(StepWaiting):
    """The shard's misses are in a provider batch that has not ended: come back later."""


def state_prefix(run_id: str, shard: int, step: str = "summarize") -> str:
    """Folder of one shard's batch state and results."""
    return f"runs/{run_id}/batches/{step}-shard-{shard:05d}/"


def results_key(prefix: str, round_no: int) -> str:
    """Where the poller writes what round ``round_no`` answered."""
    return f"{prefix}round-{round_no}.results.jsonl"


@dataclass
class ShardBatches:
    """The batch state of one shard (a JSON object in the BlobStore)."""

    run_id: str
    shard: int
    message: dict[str, Any]
    """The shard's message, re-published by the poller."""
    provider: str
    model: str
    rounds: list[dict[str, Any]] = field(default_factory=list)
    """``{"round", "batch_id", "key_id", "keys", "submitted_at"}`` per batch submitted."""
    failed: dict[str, str] = field(default_factory=dict)
    """Cache key → final reason (not asked again by this shard)."""
    answered: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Cache key → ``{"answer", "tokens": [input, output]}``: the valid answers batches gave
    (settled once, even when the run does not read the cache, e.g. ``--no-cache``)."""

    @property
    def prefix(self) -> str:
        return state_prefix(self.run_id, self.shard)

    @classmethod
    def load(cls, blobs: BlobStore, prefix: str) -> ShardBatches | None:
        key = prefix + "state.json"
        if not blobs.exists(key):
            return None
        return cls(**json.loads(blobs.get_bytes(key)))

    def save(self, blobs: BlobStore) -> None:
        blobs.put_bytes(self.prefix + "state.json", json.dumps(self.__dict__).encode())

    def results(self, blobs: BlobStore, round_no: int) -> dict[str, dict[str, Any]] | None:
        """What round ``round_no`` answered (custom id → item), or None while it runs."""
        key = results_key(self.prefix, round_no)
        if not blobs.exists(key):
            return None
        rows = (json.loads(line) for line in blobs.get_bytes(key).decode().splitlines() if line)
        return {row["custom_id"]: row for row in rows}

    def pending(self, blobs: BlobStore) -> list[dict[str, Any]]:
        """Rounds the poller has not collected yet."""
        return [r for r in self.rounds if not blobs.exists(results_key(self.prefix, r["round"]))]

    def waiting_record(self) -> dict[str, Any]:
        """What the step mark says while the shard waits."""
        latest = self.rounds[-1]
        until = datetime.fromisoformat(latest["submitted_at"]) + WAIT_LIMIT
        return {
            "kind": "llm_batch",
            "provider": self.provider,
            "state": self.prefix + "state.json",
            "batches": [
                {
                    "batch_id": r["batch_id"],
                    "round": r["round"],
                    "items": len(r["keys"]),
                    "submitted_at": r["submitted_at"],
                }
                for r in self.rounds
            ],
            "wait_until": until.isoformat(),
        }


@dataclass(frozen=True)
class ShardScope:
    """The shard a summarize invocation works on (set around the mode's run)."""

    blobs: Any
    run_id: str
    shard: int
    message: dict[str, Any]


_scope: ContextVar[ShardScope | None] = ContextVar("batch_scope", default=None)


@contextmanager
def shard_scope(scope: ShardScope) -> Iterator[None]:
    """Let analyzers built inside send their misses through a batch for this shard."""
    token = _scope.set(scope)
    try:
        yield
    finally:
        _scope.reset(token)


def current_scope() -> ShardScope | None:
    """The shard being summarized, or None (HTTP analysis, evals: always online)."""
    return _scope.get()


def wants_batch(config: Any, misses: int) -> bool:
    """Whether ``misses`` cache misses go through the batch interface under ``config.batch``."""
    policy = getattr(config, "batch", "never")
    if misses <= 0 or policy == "never":
        return False
    return policy == "always" or misses >= config.batch_min_requests


class Settler(Protocol):
    """What a `BatchRouter` needs of its `Analyzer`: settle collected answers, cache valid ones."""

    async def settle(
        self,
        requests: list[LLMRequest],
        outcomes: list[Outcome],
        responses: Sequence[LLMResponse | BaseException],
        stats: AnalysisStats,
        *,
        batch: bool = False,
    ) -> None:
        """Validate answers (``batch``: a provider batch gave them); repair invalid ones."""
        ...

    def store(self, answered: Sequence[tuple[str, Outcome]]) -> None:
        """Cache the valid answers of ``(cache key, outcome)`` pairs."""
        ...


class BatchRouter:
    """The batch side of one shard's `Analyzer`: submit, wait, settle collected answers."""

    def __init__(self, scope: ShardScope, provider: BatchProvider, *, model: str) -> None:
        self.scope = scope
        self.provider = provider
        self.model = model
        self._state: ShardBatches | None = None
        self._loaded = False

    def state(self) -> ShardBatches | None:
        """The shard's batch state (None: it never submitted a batch)."""
        if not self._loaded:
            prefix = state_prefix(self.scope.run_id, self.scope.shard)
            self._state = ShardBatches.load(self.scope.blobs, prefix)
            self._loaded = True
        return self._state

    def claim_hits(self, keys: list[str], outcomes: list[Outcome], stats: AnalysisStats) -> None:
        """Cache hits that this shard's batches answered count as ``batch``, not ``cache``."""
        state = self.state()
        if state is None or not state.answered:
            return
        for key, outcome in zip(keys, outcomes, strict=True):
            settled = state.answered.get(key)
            if outcome.cached and settled is not None:
                outcome.cached = False
                outcome.source = "batch"
                stats.cache_hits -= 1
                count_batch(stats, outcome, *settled["tokens"])

    def active(self, config: Any, misses: int) -> bool:
        """Whether this shard's misses go through a batch: policy, or batching already began."""
        state = self.state()
        return wants_batch(config, misses) or (state is not None and bool(state.rounds))

    def run(
        self,
        analyzer: Settler,
        requests: list[LLMRequest],
        keys: list[str],
        outcomes: list[Outcome],
        stats: AnalysisStats,
    ) -> None:
        """Settle what collected batches answered; submit (or wait for) the rest.

        Raises:
            BatchPending: some misses are (now) in a batch that has not ended.
        """
        blobs = self.scope.blobs
        state = self.state() or ShardBatches(
            run_id=self.scope.run_id,
            shard=self.scope.shard,
            message=self.scope.message,
            provider=self.provider.name,
            model=self.model,
        )
        pending = state.pending(blobs)
        in_flight = {k for r in pending for k in r["keys"]}
        collected: dict[str, dict[str, Any]] = {}
        tries: dict[str, int] = {}
        for r in state.rounds:
            for key in r["keys"]:
                tries[key] = tries.get(key, 0) + 1
            results = state.results(blobs, r["round"]) if r not in pending else None
            if results is not None:
                whole = results.get("*")  # the batch failed as a whole
                for key in r["keys"]:
                    item = results.get(key) or whole or {"error": "no answer (batch ended first)"}
                    collected[key] = item  # later rounds win
        answered: list[int] = []
        submit: list[int] = []
        waiting = 0
        for i, key in enumerate(keys):
            if key in state.answered:  # settled by an earlier invocation
                outcomes[i].answer = state.answered[key]["answer"]
                outcomes[i].source = "batch"
                count_batch(stats, outcomes[i], *state.answered[key]["tokens"])
            elif key in state.failed:
                outcomes[i].reason = state.failed[key]
            elif key in in_flight:
                waiting += 1
            elif key in collected and collected[key].get("text") is not None:
                answered.append(i)
            elif key in collected and tries.get(key, 0) > RESUBMITS:
                outcomes[i].reason = f"{FAILED}: {collected[key].get('error')}"
                state.failed[keys[i]] = outcomes[i].reason or ""
            else:
                submit.append(i)  # never sent, or its batch failed it: (re)submit
        if answered:
            responses: list[LLMResponse | BaseException] = [
                LLMResponse(
                    text=str(collected[keys[i]]["text"]),
                    input_tokens=int(collected[keys[i]].get("input_tokens") or 0),
                    output_tokens=int(collected[keys[i]].get("output_tokens") or 0),
                    model=self.model,
                )
                for i in answered
            ]
            asyncio.run(
                analyzer.settle(
                    [requests[i] for i in answered],
                    [outcomes[i] for i in answered],
                    responses,
                    stats,
                    batch=True,
                )
            )
            for i, response in zip(answered, responses, strict=True):
                outcome = outcomes[i]
                if outcome.answer is not None:
                    outcome.source = "batch"
                    assert isinstance(response, LLMResponse)
                    state.answered[keys[i]] = {
                        "answer": outcome.answer,
                        "tokens": [response.input_tokens, response.output_tokens],
                    }
                elif outcome.reason:
                    state.failed[keys[i]] = outcome.reason
        if not waiting and not submit:
            if state.rounds:
                state.save(blobs)
            return
        # Not finished: keep what is settled (cache the valid answers now), then wait.
        analyzer.store([(keys[i], outcomes[i]) for i in answered])
        if submit and not waiting:
            round_no = len(state.rounds) + 1
            label = f"{self.scope.run_id}/summarize-{self.scope.shard:05d}/round-{round_no}"
            batch_id, key_id = self.provider.submit(
                [(keys[i], requests[i]) for i in submit],
                label=label,
                prefix=f"{state.prefix}round-{round_no}/",
            )
            state.rounds.append(
                {
                    "round": round_no,
                    "batch_id": batch_id,
                    "key_id": key_id,
                    "keys": [keys[i] for i in submit],
                    "submitted_at": datetime.now(UTC).isoformat(),
                }
            )
            log.info(
                "submitted %d requests as %s batch %s", len(submit), self.provider.name, batch_id
            )
        state.save(blobs)
        self._state, self._loaded = state, True
        raise BatchPending(
            f"{len(submit) or waiting} requests wait for a {self.provider.name} batch",
            record=state.waiting_record(),
            where=f"summarize-{self.scope.shard:05d}",
        )
