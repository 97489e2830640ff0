"""What every step needs: settings and the backends built from them."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from common.backends import Backends, build_backends
from common.recipe import Recipe, load_recipe
from common.settings import Settings


@dataclass
class StepContext:
    """Settings + backends, built once per process and shared by invocations."""

    settings: Settings
    backends: Backends
    _recipes: dict[str, tuple[tuple[tuple[str, int, int], ...], Recipe]] = field(
        default_factory=dict, init=False, repr=False
    )
    _recipes_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> StepContext:
        """Build the backends the settings choose."""
        return cls(settings=settings, backends=build_backends(settings, **overrides))  # type: ignore[arg-type]

    def recipe(self, name: str) -> Recipe:
        """Load and validate a recipe from the configured folder, once per version of its files.

        Every step of every shard asks for its recipe; validating it each time
        cost ~30 ms (two steps x 250 shards: 15 s of a 100,000-lead local run).
        The cached recipe is reused while the folder's files keep their size
        and modification time, so an edited recipe is read again.
        """
        fingerprint = _fingerprint(self.settings.recipes_dir / name)
        with self._recipes_lock:
            cached = self._recipes.get(name)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        recipe = load_recipe(name, self.settings.recipes_dir)
        with self._recipes_lock:
            self._recipes[name] = (fingerprint, recipe)
        return recipe

    @cached_property
    def lease_seconds(self) -> int:
        """How long a claim on a step lasts."""
        return self.settings.step_lease_seconds


def _fingerprint(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """Name, size and mtime of the files directly in ``folder`` (empty when it is missing)."""
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return ()
    stats = []
    for entry in entries:
        if entry.is_file():
            stat = entry.stat()
            stats.append((entry.name, stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(stats))
