"""Per-conversation structured analysis: requests, cache keys, validation, one repair.

Pure of I/O except through the `LLMClient` and the `SummaryCache` it is given,
so the summarize step, the HTTP analysis endpoint and evals share it. What it
works on and gives back (`Item`, `Outcome`, `AnalysisStats`) is in
`common.llm.items`; the prompt (`render_prompt`, `check_prompt`) in
`common.llm.prompts`.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ValidationError

from common.errors import TerminalError
from common.llm.batch import BatchRouter
from common.llm.config import LLMConfig
from common.llm.items import SOURCES, AnalysisStats, Item, Outcome, count_batch, count_sources
from common.llm.prompts import SYSTEM, Renderer, render_prompt
from common.llm.providers.base import LLMRequest, LLMResponse, ProviderRejected
from common.ports.summarycache import SummaryCache
from common.privacy.masker import Masker, Masking

__all__ = ["SOURCES", "Analyzer", "Item"]
"""`Analyzer`, and the names callers outside `common.llm` still import from here."""

log = logging.getLogger(__name__)

REPAIR = (
    "\n\nYour previous answer was not valid: {error}\nPrevious answer: {answer}\n"
    "Answer again with only the JSON object."
)


class Analyzer:
    """Ask the LLM for each item's structured answer, through the cache.

    By default the answer's shape is the recipe's ``output_schema`` and the
    prompt is rendered by `render_prompt`; modes with answers of their own
    (`common.llm.modes`) pass ``answer_model``, ``system``, ``schema_name`` and
    ``render`` (and ``schema_for`` to narrow the schema sent per item), and
    `variant` gives a second task that shares the client and the cache. Every request is cached under the hash of what determines its
    answer (`cache_key`), whichever task it belongs to.
    """

    def __init__(
        self,
        *,
        config: LLMConfig,
        prompt: str,
        provider_name: str,
        model: str,
        client: Any,
        cache: SummaryCache | None,
        ttl: timedelta,
        read_cache: bool = True,
        answer_model: type[BaseModel] | None = None,
        system: str = SYSTEM,
        schema_name: str = "answer",
        render: Renderer = render_prompt,
        schema_for: Callable[[Item], dict[str, Any]] | None = None,
        batch: BatchRouter | None = None,
        masker: Masker | None = None,
    ) -> None:
        self.config = config
        self.prompt = prompt
        self.provider_name = provider_name
        self.model = model
        self.client = client
        self.cache = cache
        self.ttl = ttl
        self.read_cache = read_cache
        self.answer_model: type[BaseModel] = answer_model or config.answer_model()
        self.schema = self.answer_model.model_json_schema()
        self.system = system
        self.schema_name = schema_name
        self.render = render
        self.schema_for = schema_for
        """The schema sent for one item, when it narrows `schema` per item (e.g. an enum of
        the ids an answer may cite); answers are still validated against `answer_model`."""
        self.batch = batch
        """Sends the misses through the provider's batch interface (`common.llm.batch`)
        when ``config.batch`` asks for it; None: always online."""
        self.masker = masker
        """Masks each item (fields and digest) before its request is built, and puts the
        placeholders of its answer back (`common.privacy`); None: sent as written."""

    def variant(
        self,
        *,
        prompt: str,
        answer_model: type[BaseModel],
        system: str = SYSTEM,
        schema_name: str = "answer",
        render: Renderer = render_prompt,
        schema_for: Callable[[Item], dict[str, Any]] | None = None,
    ) -> Analyzer:
        """Another task (prompt, answer shape) over the same client, cache and model."""
        return Analyzer(
            config=self.config,
            prompt=prompt,
            provider_name=self.provider_name,
            model=self.model,
            client=self.client,
            cache=self.cache,
            ttl=self.ttl,
            read_cache=self.read_cache,
            answer_model=answer_model,
            system=system,
            schema_name=schema_name,
            render=render,
            schema_for=schema_for,
            batch=self.batch,
            masker=self.masker,
        )

    def mask(self, items: Sequence[Item]) -> tuple[list[Item], list[Masking | None]]:
        """``items`` as they may leave (masked when there is a masker), and their maskings."""
        if self.masker is None:
            return list(items), [None] * len(items)
        masked, maskings = self.masker.mask_records([(i.fields, i.digest) for i in items])
        out = [
            Item(lead_key=item.lead_key, fields=fields, digest=digest)
            for item, (fields, digest) in zip(items, masked, strict=True)
        ]
        return out, list(maskings)

    def request(self, item: Item) -> LLMRequest:
        """The generation request for one item (masked when there is a masker)."""
        return self._request(self.mask([item])[0][0])

    def _request(self, item: Item) -> LLMRequest:
        return LLMRequest(
            system=self.system,
            user=self.render(self.prompt, item),
            json_schema=self.schema_for(item) if self.schema_for else self.schema,
            schema_name=self.schema_name,
            model=self.model,
            temperature=self.config.temperature,
            max_output_tokens=self.config.max_output_tokens,
            metadata={"lead_key": item.lead_key},
        )

    def cache_key(self, request: LLMRequest) -> str:
        """Hash of everything that determines the answer."""
        material = {
            "v": 1,
            "provider": self.provider_name,
            "model": request.model,
            "system": request.system,
            "user": request.user,
            "schema": request.json_schema,
            "temperature": request.temperature,
            "max_output_tokens": request.max_output_tokens,
        }
        blob = json.dumps(material, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()

    def validate(self, text: str) -> dict[str, Any]:
        """Parse and validate an answer; raises ValueError with a short reason."""
        try:
            data = json.loads(text, strict=False)
        except json.JSONDecodeError as err:
            raise ValueError(f"not JSON ({err.msg} at char {err.pos})") from err
        try:
            return self.answer_model.model_validate(data).model_dump(mode="json")
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(answer)"
            raise ValueError(f"schema violation at `{where}`: {first['msg']}") from err

    def run(self, items: Sequence[Item]) -> tuple[list[Outcome], AnalysisStats]:
        """Analyse ``items``; never raises for one bad answer (it becomes a reason)."""
        stats = AnalysisStats(conversations=len(items))
        masked, maskings = self.mask(items)
        requests = [self._request(item) for item in masked]
        keys = [self.cache_key(r) for r in requests]
        hits = self.cache.get_many(keys) if (self.cache is not None and self.read_cache) else {}
        outcomes: list[Outcome] = []
        todo: list[int] = []
        for i, (item, key) in enumerate(zip(items, keys, strict=True)):
            if key in hits:
                outcomes.append(
                    Outcome(item.lead_key, answer=hits[key]["answer"], cached=True, source="cache")
                )
                stats.cache_hits += 1
            else:
                outcomes.append(Outcome(item.lead_key))
                todo.append(i)
        if self.batch is not None:
            self.batch.claim_hits(keys, outcomes, stats)
        if todo and self.batch is not None and self.batch.active(self.config, len(todo)):
            self.batch.run(  # raises BatchPending while a batch runs
                self,
                [requests[i] for i in todo],
                [keys[i] for i in todo],
                [outcomes[i] for i in todo],
                stats,
            )
        elif todo:
            asyncio.run(self._ask([requests[i] for i in todo], [outcomes[i] for i in todo], stats))
        # The cache keeps masked answers (keyed by the masked request); the outputs get
        # the originals back.
        self.store([(keys[i], outcomes[i]) for i in todo])
        for outcome, masking in zip(outcomes, maskings, strict=True):
            if masking is not None and outcome.answer is not None:
                outcome.answer = masking.restore(outcome.answer)
        for outcome in outcomes:
            if outcome.answer is not None and outcome.source is None:
                outcome.source = "model"
            if outcome.reason:
                stats.ignored += 1
                kind = outcome.reason.split(":", 1)[0]
                stats.reasons[kind] = stats.reasons.get(kind, 0) + 1
        stats.sources = count_sources(outcomes)
        return outcomes, stats

    def store(self, answered: Sequence[tuple[str, Outcome]]) -> None:
        """Cache the valid answers of ``(cache key, outcome)`` pairs."""
        fresh = {
            key: {"answer": outcome.answer, "model": self.model, "provider": self.provider_name}
            for key, outcome in answered
            if outcome.answer is not None
        }
        if fresh and self.cache is not None:
            self.cache.put_many(fresh, ttl=self.ttl)

    async def _ask(
        self, requests: list[LLMRequest], outcomes: list[Outcome], stats: AnalysisStats
    ) -> None:
        responses = await self.client.complete_many(requests)
        await self.settle(requests, outcomes, responses, stats)

    async def settle(
        self,
        requests: list[LLMRequest],
        outcomes: list[Outcome],
        responses: Sequence[LLMResponse | BaseException],
        stats: AnalysisStats,
        *,
        batch: bool = False,
    ) -> None:
        """Validate answers (``batch``: a provider batch gave them); repair invalid ones online."""
        repairs: list[tuple[int, LLMRequest]] = []
        for i, (request, response) in enumerate(zip(requests, responses, strict=True)):
            outcome = outcomes[i]
            if isinstance(response, BaseException):
                outcome.reason = _call_reason(response)
                continue
            if batch:
                count_batch(stats, outcome, response.input_tokens, response.output_tokens)
            else:
                stats.llm_calls += 1
                self._account(outcome, response, stats)
            try:
                outcome.answer = self.validate(response.text)
            except ValueError as err:
                fixed = LLMRequest(
                    **{
                        **request.__dict__,
                        "user": request.user + REPAIR.format(error=err, answer=response.text[:500]),
                    }
                )
                repairs.append((i, fixed))
        if not repairs:
            self._raise_if_all_rejected(outcomes)
            return
        stats.repairs += len(repairs)
        second = await self.client.complete_many([r for _, r in repairs])
        for (i, _), response in zip(repairs, second, strict=True):
            outcome = outcomes[i]
            if isinstance(response, BaseException):
                outcome.reason = _call_reason(response)
                continue
            stats.llm_calls += 1
            self._account(outcome, response, stats)
            try:
                outcome.answer = self.validate(response.text)
                outcome.repaired = True
            except ValueError as err:
                outcome.reason = f"llm answer invalid after one repair: {err}"
        self._raise_if_all_rejected(outcomes)

    @staticmethod
    def _account(outcome: Outcome, response: LLMResponse, stats: AnalysisStats) -> None:
        outcome.input_tokens += response.input_tokens
        outcome.output_tokens += response.output_tokens
        stats.input_tokens += response.input_tokens
        stats.output_tokens += response.output_tokens

    @staticmethod
    def _raise_if_all_rejected(outcomes: list[Outcome]) -> None:
        # One rejected request is that conversation's problem; all of them rejected
        # is a configuration problem (key, model, endpoint) that must stop the shard.
        reasons = [o.reason for o in outcomes]
        if reasons and all(r and r.startswith("llm rejected") for r in reasons):
            raise TerminalError(str(reasons[0]), where="llm provider")


def _call_reason(error: BaseException) -> str:
    if isinstance(error, ProviderRejected):
        return f"llm rejected the request: {error}"
    return f"llm call failed after retries: {type(error).__name__}: {error}"
