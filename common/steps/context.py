"""What every step needs: settings and the backends built from them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from common.backends import Backends, build_backends
from common.recipe import Recipe, load_recipe
from common.settings import Settings


@dataclass
class StepContext:
    """Settings + backends, built once per process and shared by invocations."""

    settings: Settings
    backends: Backends

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> StepContext:
        """Build the backends the settings choose."""
        return cls(settings=settings, backends=build_backends(settings, **overrides))  # type: ignore[arg-type]

    def recipe(self, name: str) -> Recipe:
        """Load and validate a recipe from the configured folder."""
        return load_recipe(name, self.settings.recipes_dir)

    @cached_property
    def lease_seconds(self) -> int:
        """How long a claim on a step lasts."""
        return self.settings.step_lease_seconds
