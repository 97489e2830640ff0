"""Call transcripts as conversations, so a recipe can analyse calls like chats.

Choice: transcripts live in the CallStore (on each call document, written by
the webhook in the same transaction as the call's state), and
`export_transcripts` writes them as a table in the canonical message schema
that every recipe's conversations SQL reads::

    message_id STRING, lead_key STRING, sent_at TIMESTAMP (UTC),
    sender STRING ("user" | "bot"), text STRING, call_id STRING

Locally the file goes to ``<warehouse_dir>/calls/messages.parquet``, which the
DuckDB warehouse serves as the table ``calls.messages``; on Google Cloud the
same Parquet file is loaded into BigQuery (``bq load --source_format=PARQUET
calls.messages gs://...``). A recipe then adds the calls to its conversations::

    SELECT message_id, lead_key, sent_at, sender, text FROM demo.messages
    WHERE lead_key IN UNNEST(@lead_keys)
    UNION ALL
    SELECT message_id, lead_key, sent_at, sender, text FROM calls.messages
    WHERE lead_key IN UNNEST(@lead_keys)

Why not append to the warehouse from the webhook: concurrent requests (and
instances) cannot safely append to one Parquet file, and a BigQuery streaming
insert per call would put the warehouse on the webhook's critical path. The
export is idempotent (same store, same file) and cheap to re-run before a run.

Run it with ``python -m common.calls.export [--out PATH]`` (`common.calls.export` builds
the store from the settings; this module is handed one, so the call store
adapters can use its message helpers without a circle).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.fsutil import temp_beside

if TYPE_CHECKING:
    import pyarrow as pa

    from common.calls.models import EndOfCallReport
    from common.ports.callstore import CallStore

MAX_MESSAGES = 300
"""Turns kept per call (a Firestore document holds at most 1 MiB)."""
MAX_TEXT = 1500
"""Characters kept per turn."""
MAX_TRANSCRIPT = 50_000
"""Characters kept of the plain-text transcript."""

SENDERS = {"user": "user", "customer": "user", "bot": "bot", "assistant": "bot", "ai": "bot"}
_LINE = re.compile(r"^\s*(AI|Assistant|Bot|User|Customer)\s*:\s*(.*)$", re.IGNORECASE)


def _epoch_ms(value: float) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def call_messages(report: EndOfCallReport, *, call_id: str, fallback_time: datetime) -> list[dict]:
    """The report's turns as canonical messages (without ``lead_key``, known later).

    Turns come from ``artifact.messages`` (``user`` → user, ``bot``/``assistant``
    → bot; system and tool turns are left out), else from the plain-text
    ``artifact.transcript`` (``AI:``/``User:`` lines). A turn's time is its
    ``time`` (epoch ms), else the call's start plus ``secondsFromStart``, else
    the call's start (or ``fallback_time``) plus its index in milliseconds,
    which keeps the order.

    Args:
        report: The end-of-call report.
        call_id: Its call id (message ids are ``<call_id>:<nnnn>``).
        fallback_time: When the call's start is unknown (the time received).
    """
    start = report.started_at or report.ended_at or fallback_time
    turns: list[tuple[str, str, datetime | None]] = []
    for item in report.artifact.messages:
        sender = SENDERS.get(item.role.lower())
        text = (item.message or "").strip()
        if sender is None or not text:
            continue
        when: datetime | None = None
        if item.time is not None:
            when = _epoch_ms(item.time)
        elif item.seconds_from_start is not None:
            when = start + timedelta(seconds=item.seconds_from_start)
        turns.append((sender, text, when))
    if not turns and report.artifact.transcript:
        for line in report.artifact.transcript.splitlines():
            match = _LINE.match(line)
            if match:
                turns.append((SENDERS[match.group(1).lower()], match.group(2).strip(), None))
            elif turns and line.strip():
                sender, text, when = turns[-1]
                turns[-1] = (sender, f"{text} {line.strip()}", when)
    messages = []
    for index, (sender, text, when) in enumerate(turns[:MAX_MESSAGES]):
        sent_at = when or start + timedelta(milliseconds=index)
        messages.append(
            {
                "message_id": f"{call_id}:{index:04d}",
                "sent_at": sent_at.astimezone(UTC).isoformat(),
                "sender": sender,
                "text": text[:MAX_TEXT],
            }
        )
    return messages


def customer_spoke(messages: Sequence[dict]) -> bool | None:
    """Whether any turn is the customer's (None when there is no transcript at all)."""
    if not messages:
        return None
    return any(m["sender"] == "user" for m in messages)


def message_rows(calls: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The canonical message rows of call documents, by lead key, time and message id.

    Calls matched to no lead are left out.
    """
    rows = [
        {**message, "lead_key": call["lead_key"], "call_id": call["call_id"]}
        for call in calls
        if call.get("lead_key")
        for message in call.get("messages") or ()
    ]
    return sorted(
        rows,
        key=lambda m: (m["lead_key"], datetime.fromisoformat(m["sent_at"]), m["message_id"]),
    )


def transcripts_table(rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Rows of `CallStore.transcripts` as an Arrow table in the canonical schema."""
    import pyarrow as pa

    schema = pa.schema(
        [
            ("message_id", pa.string()),
            ("lead_key", pa.string()),
            ("sent_at", pa.timestamp("us", tz="UTC")),
            ("sender", pa.string()),
            ("text", pa.string()),
            ("call_id", pa.string()),
        ]
    )
    columns: dict[str, list[Any]] = {name: [] for name in schema.names}
    for row in rows:
        for name in schema.names:
            value = row.get(name)
            if name == "sent_at" and isinstance(value, str):
                value = datetime.fromisoformat(value).astimezone(UTC)
            columns[name].append(value)
    return pa.table(columns, schema=schema)


def export_transcripts(store: CallStore, out: Path, lead_keys: Sequence[str] | None = None) -> int:
    """Write every stored call transcript to ``out`` (Parquet); returns the row count.

    The file is replaced atomically, so a recipe run reading it never sees half a file.
    """
    import pyarrow.parquet as pq

    table = transcripts_table(store.transcripts(lead_keys))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_beside(out, suffix=".parquet")
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return int(table.num_rows)
