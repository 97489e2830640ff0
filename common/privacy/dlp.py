"""Google Cloud Sensitive Data Protection (DLP) behind the `Detector` interface.

For recipes with ``privacy: {detector: dlp}``. The texts go to DLP's
``inspect_content`` as one table (one row per text, up to `ROWS_PER_REQUEST`
rows a request); each finding's row and code-point range become a `Span`.
Kinds DLP has no info type for (Mexico's RFC, CLABE) are still found by the
local detector. ``google-cloud-dlp`` is imported lazily (extra ``dlp``).

Note that DLP is itself a Google Cloud service: the text is sent to it (in
the recipe's project) in order to be masked before the LLM sees it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from common.privacy.detectors import LocalDetector, Span

INFO_TYPES: dict[str, str] = {
    "PHONE_NUMBER": "phone",
    "EMAIL_ADDRESS": "email",
    "CREDIT_CARD_NUMBER": "card",
    "IBAN_CODE": "iban",
    "MEXICO_CURP_NUMBER": "curp",
    "SPAIN_DNI_NUMBER": "dni",
    "SPAIN_NIE_NUMBER": "dni",
    "US_SOCIAL_SECURITY_NUMBER": "ssn",
}
"""DLP info type -> our kind."""
LOCAL_ONLY = frozenset({"rfc", "clabe"})
ROWS_PER_REQUEST = 500


class DlpDetector:
    """Finds identifiers with DLP ``inspect_content`` (plus local RFC/CLABE)."""

    name = "dlp"

    def __init__(
        self,
        *,
        project: str,
        location: str = "global",
        client: Any = None,
        min_likelihood: str = "POSSIBLE",
    ) -> None:
        self.project = project
        self.location = location
        self.min_likelihood = min_likelihood
        self._client = client
        self._local = LocalDetector()

    def client(self) -> Any:
        """The DLP client (built on first use)."""
        if self._client is None:
            try:
                from google.cloud import dlp_v2  # type: ignore[attr-defined,unused-ignore]
            except ImportError as err:
                from common.errors import ConfigError

                raise ConfigError(
                    "privacy.detector `dlp` needs google-cloud-dlp",
                    where="privacy.detector",
                    expected="pip install 'lead-recovery[dlp]'",
                ) from err
            self._client = dlp_v2.DlpServiceClient()
        return self._client

    def build_request(self, texts: Sequence[str], kinds: frozenset[str]) -> dict[str, Any]:
        """The ``InspectContentRequest`` (as a dict) for ``texts``, one table row each."""
        info_types = sorted(t for t, kind in INFO_TYPES.items() if kind in kinds)
        return {
            "parent": f"projects/{self.project}/locations/{self.location}",
            "inspect_config": {
                "info_types": [{"name": t} for t in info_types],
                "min_likelihood": self.min_likelihood,
                "include_quote": False,
                "limits": {"max_findings_per_request": 0},
            },
            "item": {
                "table": {
                    "headers": [{"name": "text"}],
                    "rows": [{"values": [{"string_value": t}]} for t in texts],
                }
            },
        }

    @staticmethod
    def spans_from_response(response: dict[str, Any], rows: int) -> list[list[Span]]:
        """Per row, the spans of a (dict) ``InspectContentResponse``."""
        out: list[list[Span]] = [[] for _ in range(rows)]
        for finding in response.get("result", {}).get("findings", []):
            kind = INFO_TYPES.get(finding.get("info_type", {}).get("name", ""))
            location = finding.get("location", {})
            cp = location.get("codepoint_range", {})
            if kind is None or "end" not in cp:
                continue
            row = 0
            for content in location.get("content_locations", []):
                table = content.get("record_location", {}).get("table_location", {})
                row = int(table.get("row_index", 0))
            if 0 <= row < rows:
                out[row].append(Span(int(cp.get("start", 0)), int(cp["end"]), kind))
        return out

    def find_many(self, texts: Sequence[str], kinds: frozenset[str]) -> list[list[Span]]:
        """DLP's findings, plus the local detector's for the kinds DLP lacks."""
        local = self._local.find_many(texts, kinds & LOCAL_ONLY)
        if not kinds - LOCAL_ONLY:
            return local
        client = self.client()
        for start in range(0, len(texts), ROWS_PER_REQUEST):
            chunk = list(texts[start : start + ROWS_PER_REQUEST])
            response = client.inspect_content(request=self.build_request(chunk, kinds))
            data = response if isinstance(response, dict) else type(response).to_dict(response)
            for i, spans in enumerate(self.spans_from_response(data, len(chunk))):
                local[start + i].extend(spans)
        return local
