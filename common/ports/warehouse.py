"""Warehouse port: parameterised SQL in, Arrow table out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pyarrow is heavy; only the adapters that return tables need it
    import pyarrow as pa


class Warehouse(Protocol):
    """Runs recipe SQL (BigQuery dialect) with named ``@parameters``.

    Values are only ever passed as query parameters: an adapter must never
    format a value into the SQL text.
    """

    def query(self, sql: str, params: Mapping[str, Any], *, where: str) -> pa.Table:
        """Run ``sql`` with ``params`` bound to its ``@name`` placeholders.

        Args:
            sql: BigQuery-dialect SQL, e.g. ``... WHERE lead_key IN UNNEST(@lead_keys)``.
            params: Name → value; lists become ARRAY parameters.
            where: The SQL's origin (recipe file) for error messages.

        Raises:
            DataError: the SQL is invalid or refers to something missing (terminal).
            TransientError: the warehouse is unavailable or throttling.
        """
        ...
