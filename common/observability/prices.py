"""LLM prices in USD per million tokens, for the estimated cost of runs and evals.

The defaults are list prices of standard (non-batch, non-cached) tokens as
published by OpenAI and Google in 2025, with each provider's batch discount
(OpenAI's Batch API and Gemini batch jobs: 50 % off); they change, so treat the cost as an
estimate and override them with ``LR_LLM_PRICES`` (JSON), e.g.::

    LR_LLM_PRICES='{"gpt-4o-mini": {"input_per_mtok": 0.15, "output_per_mtok": 0.6}}'

Entries given there replace or add to the defaults (model names are matched
exactly first, then by the longest name that prefixes the model, so
``gpt-4o-mini-2024-07-18`` is priced as ``gpt-4o-mini``). The ``local``
provider always costs 0.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field


class LLMPrice(BaseModel):
    """What one model costs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    input_per_mtok: float = Field(ge=0, description="USD per million input (prompt) tokens.")
    output_per_mtok: float = Field(ge=0, description="USD per million output tokens.")
    batch_discount: float = Field(
        0.0,
        ge=0,
        le=1,
        description="Share of the price the provider's batch interface takes off "
        "(0.5: batch calls cost half).",
    )

    def batch(self) -> LLMPrice:
        """The price of the same tokens sent through the provider's batch interface."""
        keep = 1.0 - self.batch_discount
        return LLMPrice(
            input_per_mtok=self.input_per_mtok * keep,
            output_per_mtok=self.output_per_mtok * keep,
            batch_discount=0.0,
        )


DEFAULT_LLM_PRICES: dict[str, LLMPrice] = {
    # OpenAI
    "gpt-4o-mini": LLMPrice(input_per_mtok=0.15, output_per_mtok=0.60, batch_discount=0.5),
    "gpt-4o": LLMPrice(input_per_mtok=2.50, output_per_mtok=10.00, batch_discount=0.5),
    "gpt-4.1-nano": LLMPrice(input_per_mtok=0.10, output_per_mtok=0.40, batch_discount=0.5),
    "gpt-4.1-mini": LLMPrice(input_per_mtok=0.40, output_per_mtok=1.60, batch_discount=0.5),
    "gpt-4.1": LLMPrice(input_per_mtok=2.00, output_per_mtok=8.00, batch_discount=0.5),
    # Google (Vertex AI / Gemini API, prompts up to 200k tokens)
    "gemini-2.0-flash-lite": LLMPrice(
        input_per_mtok=0.075, output_per_mtok=0.30, batch_discount=0.5
    ),
    "gemini-2.0-flash": LLMPrice(input_per_mtok=0.10, output_per_mtok=0.40, batch_discount=0.5),
    "gemini-2.5-flash-lite": LLMPrice(
        input_per_mtok=0.10, output_per_mtok=0.40, batch_discount=0.5
    ),
    "gemini-2.5-flash": LLMPrice(input_per_mtok=0.30, output_per_mtok=2.50, batch_discount=0.5),
    "gemini-2.5-pro": LLMPrice(input_per_mtok=1.25, output_per_mtok=10.00, batch_discount=0.5),
}
"""Model → price; see the module docstring for where they come from."""

FREE_PROVIDERS = frozenset({"local"})
"""Providers whose calls cost nothing (the bundled offline model)."""


def price_for(
    model: str | None, provider: str | None, prices: Mapping[str, LLMPrice]
) -> LLMPrice | None:
    """The price of ``model``: exact name, else the longest priced prefix; None when unknown.

    Args:
        model: The model name as sent to the provider.
        provider: ``local`` costs 0 whatever the model.
        prices: The price table (``Settings.llm_prices``).
    """
    if provider in FREE_PROVIDERS:
        return LLMPrice(input_per_mtok=0.0, output_per_mtok=0.0)
    if not model:
        return None
    if model in prices:
        return prices[model]
    name = model.rsplit("/", 1)[-1]  # "publishers/google/models/gemini-2.5-flash"
    matches = [key for key in prices if name.startswith(key)]
    return prices[max(matches, key=len)] if matches else None


def estimate_cost(input_tokens: int, output_tokens: int, price: LLMPrice) -> float:
    """USD for the given tokens at ``price``."""
    return (input_tokens * price.input_per_mtok + output_tokens * price.output_per_mtok) / 1e6
