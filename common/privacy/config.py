"""The recipe's `privacy` section and the masker it builds.

Masking is on by default where text leaves the machine (the `openai` and
`gemini` providers, provider embeddings) and off for the offline `local` model
and embedder: their text never leaves the process, and masking would only
cost the small local model context (it sees ``<NAME>`` instead of a name).
``enabled: true`` masks for every provider, ``enabled: false`` for none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from common.privacy.detectors import Detector
    from common.privacy.masker import Masker

Kind = Literal["email", "curp", "rfc", "iban", "clabe", "card", "ssn", "dni", "phone", "name"]
ALL_KINDS: list[Kind] = [
    "email", "curp", "rfc", "iban", "clabe", "card", "ssn", "dni", "phone", "name"
]  # fmt: skip
REMOTE = frozenset({"openai", "gemini", "vertex"})
"""Providers (LLM and embedding) whose requests leave the machine: masked by default."""


class PrivacySection(BaseModel):
    """`privacy` in meta.yml: what is masked before text goes to an LLM or embedding provider."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = Field(
        None,
        description="Mask before sending. Default: on for openai/gemini and provider "
        "embeddings, off for the offline local model and embedder (nothing leaves).",
    )
    mask: list[Kind] = Field(
        default_factory=lambda: list(ALL_KINDS), description="Kinds of identifier to mask."
    )
    keep: list[Kind] = Field(
        default_factory=list, description="Kinds left as written (removed from `mask`)."
    )
    detector: Literal["local", "dlp"] = Field(
        "local",
        description="`local`: offline regexes + check digits (default). `dlp`: Google Cloud "
        "Sensitive Data Protection (extra `dlp`, needs LR_PROJECT).",
    )
    name_columns: list[str] = Field(
        default_factory=lambda: ["name", "first_name", "last_name", "full_name", "nombre"],
        description="Lead columns holding the lead's own name (those present are joined).",
    )
    phone_regions: list[str] = Field(
        default_factory=lambda: ["MX", "ES", "US"],
        description="Regions a phone number without country code is read in, in order.",
    )

    def kinds(self) -> list[str]:
        """The kinds masked: `mask` less `keep`."""
        return [k for k in self.mask if k not in self.keep]

    def active(self, provider: str) -> bool:
        """Whether text for ``provider`` is masked."""
        if self.enabled is not None:
            return self.enabled and bool(self.kinds())
        return provider in REMOTE and bool(self.kinds())


def build_masker(
    section: PrivacySection | None, provider: str, *, project: str | None = None
) -> Masker | None:
    """The masker for text sent to ``provider``, or None when nothing is masked.

    Raises:
        ConfigError: ``detector: dlp`` without a project or without the `dlp` extra.
    """
    section = section or PrivacySection()
    if not section.active(provider):
        return None
    from common.privacy.detectors import LocalDetector
    from common.privacy.masker import Masker

    detector = (
        _dlp(section, project)
        if section.detector == "dlp"
        else LocalDetector(section.phone_regions)
    )
    return Masker(section.kinds(), detector=detector, name_columns=section.name_columns)


def _dlp(section: PrivacySection, project: str | None) -> Detector:
    from common.errors import ConfigError
    from common.privacy.dlp import DlpDetector

    if not project:
        raise ConfigError(
            "privacy.detector `dlp` needs a Google Cloud project",
            where="privacy.detector",
            expected="LR_PROJECT set (or `detector: local`)",
        )
    return DlpDetector(project=project)
