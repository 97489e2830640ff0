"""Settings of how runs behave: leases, deliveries, sweeping, batch polling, logging."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings

from common.settings._base import LR_CONFIG


class RunSettings(BaseSettings):
    """How long steps hold their claims, how often deliveries are tried, how runs are swept and logged."""

    model_config = LR_CONFIG

    batch_poll_seconds: float = Field(
        60.0,
        gt=0,
        description="How often the local runner asks the provider about the batches its run "
        "waits for (`llm.batch`); in the cloud the poll-batches Cloud Scheduler job does.",
    )
    step_lease_seconds: int = Field(
        540, ge=1, description="How long a running step holds its (run, step, shard) claim."
    )
    max_delivery_attempts: int = Field(
        10,
        ge=1,
        description="Pub/Sub's max_delivery_attempts (infra passes var.max_delivery_attempts): "
        "a step failing on that delivery is recorded as failed for good and its shard counted.",
    )
    sweep_grace_seconds: int = Field(
        1800,
        ge=0,
        description="`runs sweep`: how long a shard may show no progress (no live claim) "
        "before the sweeper records it as failed (stuck).",
    )
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="`json` for Cloud Logging, `text` for people; `auto` picks by TTY."
    )
    log_level: str = Field("INFO", description="Python logging level name.")
