"""`lead-recovery cache`: inspect and prune the LLM summary cache."""

from __future__ import annotations

import click

from common.cli._shared import backend_option, friendly, load_settings


@click.group()
def cache() -> None:
    """Inspect and prune the LLM summary cache."""


@cache.command("stats")
@backend_option
@friendly
def cache_stats(backend: str | None) -> None:
    """How many cached answers there are, and how many have expired."""
    from common.backends import build_backends

    counts = build_backends(load_settings(backend)).cache.stats()
    click.echo(f"entries {counts['entries']}  expired {counts['expired']}")


@cache.command("prune")
@backend_option
@friendly
def cache_prune(backend: str | None) -> None:
    """Delete expired answers now (Firestore's TTL policy also does it, eventually)."""
    from common.backends import build_backends

    deleted = build_backends(load_settings(backend)).cache.prune()
    click.echo(f"deleted {deleted} expired entries")
