"""CallStore on Firestore: one document per call, one per lead outcome.

Layout (``prefix`` isolates environments and tests)::

    {prefix}calls/{call_id}              status, history, processed event ids, analysis, transcript
    {prefix}lead_outcomes/{lead_key}     disposition, attempts, next_attempt_at, per-call summary

`record` is an optimistic transaction on the official client: it takes the
call (and, when the event decides the lead's outcome, the lead) at a known
version, applies `common.calls.state.apply_event` (exactly as
`SQLiteCallStore` does), and commits the changed fields of both documents in
one `WriteBatch` on condition that neither changed since that version
(``create`` for a new document, else ``update`` with
``write_option(last_update_time=...)``); a conflict forgets what it knew,
re-reads and tries again under `RECORD_RETRY` (`common.retry.Backoff`). The
version is the one this instance last wrote or read (a bounded LRU), or read
(one ``get_all``); a call's first message (``scheduled``/``queued``) is
assumed to create it. So a call whose messages reach one instance costs one
RPC per message, and a stale version one failed commit, never a wrong write.
No lock is held across round trips (a server transaction would: the emulator
waits up to 2 s on a contended read); messages of one call handled at once by
one instance queue on its lock (`FirestoreAdapter.lock_for`). The client's own
RPC retries stay on: a retried commit that had landed fails its precondition,
and the re-read shows the event as a duplicate, never applied twice.

Documents are stored JSON-shaped (ISO 8601 strings, not timestamps), so
``next_attempt_at`` sorts and compares as text: a dialer finds due leads with
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
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.field_path import FieldPath

# The state store's JSON shaping and error mapping, so both Firestore adapters
# fail (TransientError on contention/unavailability) and store documents alike.
from common.adapters.gcp._firestore import FirestoreAdapter
from common.adapters.gcp.firestore_state import _mapped, jsonish
from common.calls.retry import RetryPolicy
from common.calls.state import apply_event, has_calls, resolve_lead
from common.calls.transcripts import message_rows
from common.errors import TransientError
from common.ports.callstore import CallEvent, RecordResult
from common.retention import TTL_FIELD, expires_at, retention_days
from common.retry import Backoff

log = logging.getLogger(__name__)

_CONFLICTS = (gexc.FailedPrecondition, gexc.AlreadyExists, gexc.Conflict)
"""Another instance wrote one of the documents since the version used."""
_RETRIED = (
    gexc.ServiceUnavailable,
    gexc.DeadlineExceeded,
    gexc.InternalServerError,
    gexc.TooManyRequests,
)
"""Failures of one RPC (past the client's own retries) worth re-reading and another try."""
_TRANSIENT_ATTEMPTS = 3  # tries that may end in `_RETRIED` (then 503: the provider retries)

RECORD_RETRY = Backoff(attempts=10, initial_s=0.02, max_s=0.32, retry_on=_CONFLICTS + _RETRIED)
"""How `record` retries a conflict (or an unavailable Firestore, `_TRANSIENT_ATTEMPTS` times):
re-read, then commit again after a jittered pause (racing instances spread out)."""
_RPC_TIMEOUT_S = 10.0  # deadline of each read or commit of `record`, client retries included

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


def _field(name: str) -> str:
    """A top-level field name as an update path (quoted when it holds dots, dashes...)."""
    return FieldPath(name).to_api_repr()


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
        self.cache_size = cache_size
        self._cache: OrderedDict[str, tuple[str | None, Any]] = OrderedDict()
        self._cache_lock = threading.Lock()

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
        """The current versions of the documents at ``paths`` (one ``get_all``)."""
        if not paths:
            return {}
        refs = [self.client.document(path) for path in paths]
        return {
            snapshot.reference.path: _Version(
                snapshot.to_dict() if snapshot.exists else None, snapshot.update_time
            )
            for snapshot in self.client.get_all(refs, timeout=_RPC_TIMEOUT_S)
        }

    def _write(self, batch: Any, path: str, old: _Version, data: dict[str, Any]) -> None:
        """Add to ``batch`` the write of ``data`` (JSON-shaped), if ``path`` is still at ``old``."""
        ref = self.client.document(path)
        if old.doc is None:
            batch.create(ref, data)  # fails if someone created it meanwhile
            return
        # Only the top-level fields that changed (fields are never removed), and
        # of an append-only list only what was appended, on condition that
        # nobody wrote the document since that version.
        updates: dict[str, Any] = {}
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
                updates[_field(key)] = firestore.ArrayUnion(value[len(before) :])
            else:
                updates[_field(key)] = value
        if not updates:  # still assert the version: the other write relied on it
            key = next(iter(data))
            updates[_field(key)] = data[key]
        option = self.client.write_option(last_update_time=old.update_time)
        batch.update(ref, updates, option=option)

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
        batch = self.client.batch()
        for path, old, data in writes:
            self._write(batch, path, old, data)
        results = batch.commit(timeout=_RPC_TIMEOUT_S)
        for (path, _, data), result in zip(writes, results, strict=True):
            kept = {k: v for k, v in data.items() if k not in _NOT_CACHED}
            self._remember(path, _Version(kept, result.update_time))
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
        unavailable = 0
        try:
            for attempt in RECORD_RETRY.retrying():
                with attempt:
                    try:
                        with lock:
                            fresh = attempt.retry_state.attempt_number > 1
                            return self._attempt(event, call_path, fresh=fresh)
                    except _CONFLICTS:
                        self._forget_event(event)
                        raise
                    except _RETRIED as err:
                        # Unavailable or timed out: the commit may have landed, so read
                        # again (a landed one then shows as a duplicate, never twice).
                        self._forget_event(event)
                        unavailable += 1
                        if unavailable >= _TRANSIENT_ATTEMPTS:
                            raise TransientError(
                                f"call {event.call_id}: Firestore unavailable: {err}",
                                where="firestore",
                            ) from err
                        log.warning(
                            "call %s: Firestore %s; retrying", event.call_id, type(err).__name__
                        )
                        raise
        except _CONFLICTS as err:
            raise TransientError(
                f"call {event.call_id}: still contended after {RECORD_RETRY.attempts} attempts",
                where="firestore",
            ) from err
        raise AssertionError("unreachable")  # the policy returns or raises

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
