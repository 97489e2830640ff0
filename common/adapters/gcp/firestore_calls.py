"""CallStore on Firestore: one document per call, one per lead outcome.

Layout (``prefix`` isolates environments and tests)::

    {prefix}calls/{call_id}              status, history, processed event ids, analysis, transcript
    {prefix}lead_outcomes/{lead_key}     disposition, attempts, next_attempt_at, per-call summary

`record` is an optimistic transaction: it takes the call (and, when the event
decides the lead's outcome, the lead) at a known version, applies
`common.calls.state.apply_event` (exactly as `SQLiteCallStore` does), and
commits the changed fields of both documents in one atomic batch on condition
that neither changed since that version (``create`` for a new document,
``update`` with the version's ``update_time`` otherwise); a conflict forgets
what it knew, re-reads and tries again. The version is the one this instance
last wrote or read (kept in a bounded LRU), or read (one GetDocument each); a
call's first message (``scheduled``/``queued``) is assumed to create it. So a
call whose messages reach one instance costs one RPC per message, and a stale
version costs one failed commit, never a wrong write. `record` reads and
commits through `FirestoreWire` (plain protobuf messages: the client's
proto-plus layer was half of the webhook's CPU); the other methods use the
client. Unlike a server
transaction nothing holds a lock across network round trips: instances racing
on one call cost a retry, not a lock wait (the emulator waits up to 2 s on a
contended transactional read). Documents are stored
JSON-shaped (ISO 8601 strings, not timestamps), so ``next_attempt_at`` sorts
and compares as text: a dialer finds due leads with
``where("next_attempt_at", "<=", now.isoformat())`` (single-field index).

Retention: every write of a call or lead outcome also sets ``expires_at`` (a
timestamp, the one field not JSON-shaped) to now + ``LR_RETENTION_CALLS_DAYS``
or ``LR_RETENTION_LEAD_OUTCOMES_DAYS``; the TTL policies of infra/firestore.tf
delete a document that long after its last write. Reads leave it out, so the
documents are those of `SQLiteCallStore`.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter

# The state store's JSON shaping and error mapping, so both Firestore adapters
# fail (TransientError on contention/unavailability) and store documents alike.
from common.adapters.gcp._firestore import FirestoreAdapter
from common.adapters.gcp.firestore_state import _mapped, jsonish
from common.adapters.gcp.firestore_wire import FirestoreWire
from common.calls.retry import RetryPolicy
from common.calls.state import apply_event, has_calls, resolve_lead
from common.calls.transcripts import message_rows
from common.errors import TransientError
from common.ports.callstore import CallEvent, RecordResult
from common.retention import TTL_FIELD, expires_at, retention_days

log = logging.getLogger(__name__)

_ATTEMPTS = 10
_TRANSIENT_ATTEMPTS = 3
_RETRIED = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.TooManyRequests,
)
"""Failures of one RPC worth another try at once (then 503: the provider retries)."""
_BACKOFF_BASE_S = 0.01
_FIRST_STATUSES = frozenset({"scheduled", "queued"})
_NOT_CACHED = frozenset(
    {"messages", "transcript", "structured_data", "structured_outputs", TTL_FIELD}
)
"""Call fields `apply_event` never reads: left out of the versions kept in memory
(``expires_at`` too: a timestamp, not JSON, and rewritten by every write)."""
_APPEND_ONLY = frozenset({"events", "history"})
"""Lists `apply_event` only appends to: written as ArrayUnion of the new items."""
_ABSENT = object()


@dataclass(frozen=True)
class _Version:
    """A document as of ``update_time`` (``doc`` None: it did not exist)."""

    doc: dict[str, Any] | None
    update_time: Any


_BATCH = 500  # writes per batch commit (Firestore's limit)
_GET_ALL_CHUNK = 300
_IN_CHUNK = 30  # Firestore's limit of values in one `in` filter


def _public(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """The document as callers read it: without the TTL field (SQLite has none)."""
    if doc is not None:
        doc.pop(TTL_FIELD, None)
    return doc


def _chunks(keys: Sequence[str], size: int) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), size):
        yield unique[start : start + size]


class FirestoreCallStore(FirestoreAdapter):
    """Calls and lead outcomes in Firestore (Native mode).

    Args:
        project: Google Cloud project.
        database: Firestore database id.
        prefix: Prepended to the collection names.
        policy: Retry policy applied when a call decides a lead's outcome.
        client: A ready client (tests); by default one is built on first use
            and honours ``FIRESTORE_EMULATOR_HOST``.
        cache_size: Documents whose last version this instance remembers (0: none).
        wire: The raw channel `record` reads and commits through (tests); by
            default one is built on first use for ``project``/``database``.
        call_retention_days: Days a call is kept after its last write (0: forever);
            default ``LR_RETENTION_CALLS_DAYS``.
        lead_retention_days: Days a lead outcome is kept after its last write (0:
            forever); default ``LR_RETENTION_LEAD_OUTCOMES_DAYS``.
    """

    def __init__(
        self,
        project: str,
        database: str = "(default)",
        prefix: str = "",
        policy: RetryPolicy | None = None,
        client: firestore.Client | None = None,
        cache_size: int = 10_000,
        wire: FirestoreWire | None = None,
        call_retention_days: int | None = None,
        lead_retention_days: int | None = None,
    ) -> None:
        super().__init__(project, database, prefix, client)
        self.call_retention_days = (
            retention_days("calls") if call_retention_days is None else call_retention_days
        )
        self.lead_retention_days = (
            retention_days("lead_outcomes") if lead_retention_days is None else lead_retention_days
        )
        self.policy = policy or RetryPolicy()
        self._wire = wire
        self.cache_size = cache_size
        self._cache: OrderedDict[str, tuple[str | None, Any]] = OrderedDict()
        self._cache_lock = threading.Lock()

    @property
    def wire(self) -> FirestoreWire:
        """The raw GetDocument/Commit channel of `record`, created once on first use."""
        if self._wire is None:
            with self._client_lock:
                if self._wire is None:
                    self._wire = FirestoreWire(self.project, self.database)
        return self._wire

    def _call_path(self, call_id: str) -> str:
        return f"{self.prefix}calls/{call_id}"

    def _lead_path(self, lead_key: str) -> str:
        return f"{self.prefix}lead_outcomes/{lead_key}"

    def _calls(self) -> firestore.CollectionReference:
        return self.client.collection(f"{self.prefix}calls")

    def _leads(self) -> firestore.CollectionReference:
        return self.client.collection(f"{self.prefix}lead_outcomes")

    # ---- the versions this instance last read or wrote ----------------------------------
    # Kept as JSON text: a string is one object the garbage collector never
    # traverses, where 10,000 documents as dicts are ~10^6 (each full collection
    # would then pause every request for tens of milliseconds).
    def _cached(self, path: str) -> _Version | None:
        with self._cache_lock:
            entry = self._cache.get(path)
            if entry is None:
                return None
            self._cache.move_to_end(path)
        text, update_time = entry
        return _Version(json.loads(text) if text is not None else None, update_time)

    def _remember(self, path: str, version: _Version) -> None:
        text = json.dumps(version.doc) if version.doc is not None else None
        with self._cache_lock:
            self._cache[path] = (text, version.update_time)
            self._cache.move_to_end(path)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def _forget(self, *paths: str) -> None:
        with self._cache_lock:
            for path in paths:
                self._cache.pop(path, None)

    def _read(self, paths: list[str]) -> dict[str, _Version]:
        """The current versions of the documents at ``paths``."""
        return {path: _Version(doc, when) for path, (doc, when) in self.wire.get(paths).items()}

    def _write(self, path: str, old: _Version, data: dict[str, Any]) -> Any:
        """The write of ``data`` (JSON-shaped), on condition that ``path`` is still at ``old``."""
        if old.doc is None:
            return self.wire.create(path, data)  # fails if someone created it meanwhile
        # Only the top-level fields that changed (fields are never removed), and
        # of an append-only list only what was appended, on condition that
        # nobody wrote the document since that version.
        changed: dict[str, Any] = {}
        appends: dict[str, list[Any]] = {}
        for key, value in data.items():
            before = old.doc.get(key, _ABSENT)
            if before == value:
                continue
            if (
                key in _APPEND_ONLY
                and isinstance(before, list)
                and isinstance(value, list)
                and len(value) > len(before)
                and value[: len(before)] == before
            ):
                appends[key] = value[len(before) :]
            else:
                changed[key] = value
        if not changed and not appends:  # still assert the version: the other write relied on it
            key = next(iter(data))
            changed[key] = data[key]
        return self.wire.update(path, changed, appends=appends, update_time=old.update_time)

    def _attempt(self, event: CallEvent, call_path: str, *, fresh: bool) -> RecordResult:
        """Apply the event to the known (or read) versions and commit conditionally: one try.

        Args:
            event: The event.
            call_path: Its call document.
            fresh: Read both documents instead of trusting this instance's versions.
        """
        call_v = None if fresh else self._cached(call_path)
        if call_v is None and not fresh and event.status in _FIRST_STATUSES:
            call_v = _Version(None, None)  # a call's first message: assume a new call
        # The lead the event names (or its phone) is read in the same round trip as
        # the call when the event decides the lead; a call that already belongs to
        # another lead (metadata on an earlier message) costs one more read.
        guess = (event.lead_key or event.phone) if event.disposition is not None else None
        guess_path = self._lead_path(guess) if guess else None
        lead_v = self._cached(guess_path) if guess_path is not None and not fresh else None
        wanted = [call_path] if call_v is None else []
        if guess_path is not None and lead_v is None:
            wanted.append(guess_path)
        read = self._read(wanted)
        call_v = call_v or read[call_path]
        call = call_v.doc
        if call is not None and event.event_id in (call.get("events") or ()):
            # A duplicate: event ids are never removed, so even an old version says so.
            return apply_event(call, None, event, self.policy).result
        key, _ = resolve_lead(call, event)
        lead_path = self._lead_path(key) if key is not None else None
        if lead_path is not None and event.disposition is not None:
            if lead_path != guess_path:
                lead_v = None if fresh else self._cached(lead_path)
            lead_v = lead_v or read.get(lead_path) or self._read([lead_path])[lead_path]
        else:
            lead_v = None
        applied = apply_event(call, lead_v.doc if lead_v else None, event, self.policy)
        assert applied.call is not None
        now = datetime.now(UTC)
        writes = [(call_path, call_v, self._expiring(applied.call, self.call_retention_days, now))]
        if applied.lead is not None and lead_path is not None and lead_v is not None:
            lead = self._expiring(applied.lead, self.lead_retention_days, now)
            writes.append((lead_path, lead_v, lead))
        # Atomic: both documents or neither.
        times = self.wire.commit([self._write(path, old, data) for path, old, data in writes])
        for (path, _, data), update_time in zip(writes, times, strict=True):
            kept = {k: v for k, v in data.items() if k not in _NOT_CACHED}
            self._remember(path, _Version(kept, update_time))
        return applied.result

    @staticmethod
    def _expiring(doc: dict[str, Any], days: int, now: datetime) -> dict[str, Any]:
        """``doc`` JSON-shaped, with the TTL field of a write at ``now`` (none when kept forever)."""
        data = jsonish(doc)
        data.pop(TTL_FIELD, None)  # a read version's (a string once JSON-shaped)
        if (when := expires_at(days, now)) is not None:
            data[TTL_FIELD] = when
        return data

    @_mapped
    def record(self, event: CallEvent) -> RecordResult:
        """Apply one event to its call and lead atomically (optimistic, retried on conflict)."""
        call_path = self._call_path(event.call_id)
        lock = self.lock_for(call_path)  # messages of one call queue here
        for attempt in range(_ATTEMPTS):
            try:
                with lock:
                    return self._attempt(event, call_path, fresh=attempt > 0)
            except (gexc.FailedPrecondition, gexc.AlreadyExists, gexc.Conflict) as err:
                # Another instance wrote one of the documents since the version used.
                self._forget_event(event)
                if attempt == _ATTEMPTS - 1:
                    raise TransientError(
                        f"call {event.call_id}: still contended after {_ATTEMPTS} attempts",
                        where="firestore",
                    ) from err
            except _RETRIED as err:
                # Unavailable or timed out: the commit may have landed, so read again
                # (a landed one then shows as a duplicate, never applied twice).
                self._forget_event(event)
                if attempt >= _TRANSIENT_ATTEMPTS - 1:
                    raise
                log.warning("call %s: Firestore %s; retrying", event.call_id, type(err).__name__)
            if attempt:
                time.sleep(random.uniform(0, _BACKOFF_BASE_S * 2 ** min(attempt, 5)))
        raise AssertionError("unreachable")

    def _forget_event(self, event: CallEvent) -> None:
        """Forget the versions of the call and the leads the event may touch."""
        paths = [self._call_path(event.call_id)]
        paths += [self._lead_path(str(key)) for key in {event.lead_key, event.phone} - {None}]
        self._forget(*paths)

    @_mapped
    def get_call(self, call_id: str) -> dict[str, Any] | None:
        """The call document, or None."""
        return _public(self._calls().document(call_id).get().to_dict())

    @_mapped
    def list_calls(self) -> list[dict[str, Any]]:
        """Every call document, by call id."""
        snapshots = sorted(self._calls().stream(), key=lambda s: s.id)
        return [_public(s.to_dict()) or {} for s in snapshots]

    @_mapped
    def lead_outcomes(self, lead_keys: Sequence[str] | None = None) -> dict[str, dict[str, Any]]:
        """Lead key → outcome document (batched reads; every lead when None)."""
        if lead_keys is None:
            snapshots = list(self._leads().stream())
        else:
            snapshots = []
            for chunk in _chunks(lead_keys, _GET_ALL_CHUNK):
                snapshots += self.client.get_all([self._leads().document(k) for k in chunk])
        docs = {s.id: _public(s.to_dict()) or {} for s in snapshots if s.exists}
        return {key: doc for key, doc in docs.items() if has_calls(doc)}

    @_mapped
    def set_lead_contexts(self, contexts: Mapping[str, Mapping[str, Any]]) -> None:
        """Replace each lead's ``context`` field (merge: the outcome's fields stay).

        The write changes the document's version, so a webhook instance holding
        an older one re-reads it at its next commit and plans with this context.
        """
        items = list(contexts.items())
        when = expires_at(self.lead_retention_days)
        for start in range(0, len(items), _BATCH):
            batch = self.client.batch()
            for key, context in items[start : start + _BATCH]:
                data: dict[str, Any] = {"lead_key": key, "context": jsonish(dict(context))}
                if when is not None:
                    data[TTL_FIELD] = when
                batch.set(self._leads().document(key), data, merge=list(data))
            batch.commit()

    @_mapped
    def transcripts(self, lead_keys: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Every call turn of the given leads, as canonical conversation messages."""
        fields = ["call_id", "lead_key", "messages"]
        if lead_keys is None:
            calls = [s.to_dict() or {} for s in self._calls().select(fields).stream()]
        else:
            calls = []
            for chunk in _chunks(lead_keys, _IN_CHUNK):
                query = self._calls().where(filter=FieldFilter("lead_key", "in", chunk))
                calls += [s.to_dict() or {} for s in query.select(fields).stream()]
        return message_rows(calls)
