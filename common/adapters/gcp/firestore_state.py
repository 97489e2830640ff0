"""StateStore on Firestore: one document per run, step marks in its ``steps`` subcollection.

Layout (``prefix`` isolates environments and tests)::

    {prefix}runs/{run_id}                    the run document (caller's fields + `_created_at`)
    {prefix}runs/{run_id}/steps/{doc_id}     one mark per (step, shard), see `StepKey.doc_id`
    {prefix}runs/{run_id}/fanin/{id}         fan-in markers and counters (`complete_shard`)

The semantics are those of `SQLiteStateStore` (the contract tests run both):
documents are stored JSON-shaped (datetimes become strings on the way in), and
claims change inside transactions. Nothing a shard does writes the run
document: a failure lives on the step's mark, and the fan-in counts shards in
a tree of counters (see `complete_shard`), so 2,000 shards finishing at once
contend on no single document.

Retention: the run document, its step marks and its fan-in documents each
carry ``expires_at`` (a timestamp) = time of their last write +
``LR_RETENTION_RUNS_DAYS``. Firestore deletes no subcollection with its parent,
so infra/firestore.tf has a TTL policy on the ``runs`` collection and on the
``steps`` and ``fanin`` collection groups. Reads leave the field out.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore
from google.cloud.firestore_v1.base_query import FieldFilter
from google.cloud.firestore_v1.field_path import FieldPath

from common.adapters.gcp._errors import is_transient
from common.adapters.gcp._firestore import FirestoreAdapter
from common.errors import TransientError
from common.ports.statestore import StepKey, StepStatus, fan_in_group_size, fan_in_groups
from common.retention import TTL_FIELD, expires_at, retention_days
from common.retry import Backoff

P = ParamSpec("P")
R = TypeVar("R")

# Set by the store on every run document (a server timestamp) to order
# `list_runs`, and stripped from what callers read: SQLite keeps the same fact
# in a column beside the document. It is not `created_at` because callers
# store their own `created_at` in the document (fetch_leads does) and must get
# it back unchanged. Production needs the composite index
# (recipe ASC, _created_at DESC) for `list_runs(recipe=...)`.
CREATED_AT = "_created_at"

_TX_ATTEMPTS = 5
"""Tries of one transaction by the client itself, at once (keeping its place in the
server's lock queue)."""


def _contended(err: BaseException) -> bool:
    """The client's way of saying "aborted `_TX_ATTEMPTS` times": a ValueError from `Aborted`."""
    return isinstance(err, ValueError) and isinstance(err.__cause__, gexc.Aborted)


TX_RETRY = Backoff(attempts=4, initial_s=0.1, max_s=0.4, retry_on=_contended)
"""Then the whole transaction again after a jittered pause (retrying in lockstep only
collides again); the last contention reaches `_mapped` and becomes a `TransientError`."""


def _now() -> datetime:
    return datetime.now(UTC)


def jsonish(doc: dict[str, Any]) -> dict[str, Any]:
    """The document as SQLite stores it: a JSON round trip, unknown types via ``str``.

    Firestore would keep datetimes as timestamps and tuples as arrays; forcing
    the JSON shape makes both adapters hand back identical documents.
    """
    result: dict[str, Any] = json.loads(json.dumps(doc, default=str))
    return result


def _public(doc: dict[str, Any] | None) -> dict[str, Any] | None:
    if doc is None:
        return None
    doc.pop(CREATED_AT, None)
    doc.pop(TTL_FIELD, None)
    return doc


def _mapped(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn Firestore's retryable failures into `TransientError` (Pub/Sub redelivers)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ValueError as err:
            # The client reports an exhausted transaction retry budget as a bare
            # ValueError wrapping the last `Aborted`.
            if isinstance(err.__cause__, gexc.Aborted):
                raise TransientError(
                    f"Firestore transaction contention in {fn.__name__}", where="firestore"
                ) from err
            raise
        except Exception as err:
            if is_transient(err):
                raise TransientError(
                    f"Firestore unavailable in {fn.__name__}: {err}", where="firestore"
                ) from err
            raise

    return wrapper


class FirestoreStateStore(FirestoreAdapter):
    """Runs, step claims and shard fan-in in Firestore (Native mode).

    Args:
        project: Google Cloud project.
        database: Firestore database id.
        prefix: Prepended to the top-level collection name.
        client: A ready client (tests); by default one is built and honours
            ``FIRESTORE_EMULATOR_HOST``.
        run_retention_days: Days a run (document, step marks, fan-in) is kept after
            its last write (0: forever); default ``LR_RETENTION_RUNS_DAYS``.
    """

    def __init__(
        self,
        project: str,
        database: str = "(default)",
        prefix: str = "",
        client: firestore.Client | None = None,
        run_retention_days: int | None = None,
    ) -> None:
        super().__init__(project, database, prefix, client)
        self.run_retention_days = (
            retention_days("runs") if run_retention_days is None else run_retention_days
        )

    def _ttl(self, now: datetime | None = None) -> dict[str, Any]:
        """The TTL field of a write at ``now`` (empty when runs are kept forever)."""
        when = expires_at(self.run_retention_days, now)
        return {} if when is None else {TTL_FIELD: when}

    def _runs(self) -> firestore.CollectionReference:
        return self.client.collection(f"{self.prefix}runs")

    def _run_ref(self, run_id: str) -> firestore.DocumentReference:
        return self._runs().document(run_id)

    def _step_ref(self, key: StepKey) -> firestore.DocumentReference:
        return self._run_ref(key.run_id).collection("steps").document(key.doc_id)

    def _transact(self, ref: firestore.DocumentReference, body: Callable[[Any], R]) -> R:
        """Run ``body(transaction)`` as a Firestore transaction centred on ``ref``."""
        lock = self.lock_for(ref.path)

        def once() -> R:
            with lock:  # not held during the pause between tries
                return firestore.transactional(body)(
                    self.client.transaction(max_attempts=_TX_ATTEMPTS)
                )

        return TX_RETRY.call(once)

    # ---- runs -----------------------------------------------------------------------
    @_mapped
    def create_run(self, run_id: str, doc: dict[str, Any]) -> bool:
        """Create the run document unless it exists (``create`` fails on an existing one)."""
        try:
            self._run_ref(run_id).create(
                {**jsonish(doc), CREATED_AT: firestore.SERVER_TIMESTAMP, **self._ttl()}
            )
        except gexc.AlreadyExists:
            return False
        return True

    @_mapped
    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """The run document, or None."""
        return _public(self._run_ref(run_id).get().to_dict())

    @_mapped
    def update_run(self, run_id: str, fields: dict[str, Any]) -> None:
        """Replace the given top-level fields; a run that does not exist is left absent."""
        if not fields:
            return
        # Field paths, not a merge: `set(merge=True)` would deep-merge nested maps,
        # whereas SQLite replaces each top-level value; quoting keeps keys with
        # dots or dashes single fields.
        updates = {FieldPath(k).to_api_repr(): v for k, v in jsonish(fields).items()}
        updates.update(self._ttl())
        try:
            self._run_ref(run_id).update(updates)
        except gexc.NotFound:
            return  # as SQLite: updating a missing run creates nothing

    @_mapped
    def list_runs(
        self, recipe: str | None = None, limit: int = 50, *, status: str | None = None
    ) -> list[dict[str, Any]]:
        """Newest runs first, optionally of one recipe or one status.

        ``status`` alone is the sweeper's query (status == X, newest first: the
        composite index `runs_by_status` in infra/firestore.tf); with a recipe
        too, the status is filtered here.
        """
        query: Any = self._runs()
        if recipe is not None:
            query = query.where(filter=FieldFilter("recipe", "==", recipe))
        elif status is not None:
            query = query.where(filter=FieldFilter("status", "==", status))
        query = query.order_by(CREATED_AT, direction=firestore.Query.DESCENDING)
        if recipe is None or status is None:
            query = query.limit(limit)
        runs = [d for s in query.stream() if (d := _public(s.to_dict())) is not None]
        if recipe is not None and status is not None:
            runs = [r for r in runs if r.get("status") == status][:limit]
        return runs

    # ---- steps ----------------------------------------------------------------------
    @_mapped
    def begin_step(self, key: StepKey, lease_seconds: int) -> StepStatus:
        """Claim the step unless it is done or held by a live lease (in a transaction)."""
        ref = self._step_ref(key)

        def claim(tx: firestore.Transaction) -> StepStatus:
            # Taken inside: a retried transaction must judge the lease afresh.
            now = _now()
            doc = ref.get(transaction=tx).to_dict() or {}
            if doc.get("status") == "done":
                return StepStatus.DONE
            if doc.get("status") == "failed":
                return StepStatus.FAILED
            lease = doc.get("lease_until")
            if doc.get("status") == "running" and lease and datetime.fromisoformat(lease) > now:
                return StepStatus.BUSY
            doc.update(
                self._ttl(now),
                step=key.step,
                shard=key.shard,
                status="running",
                attempts=doc.get("attempts", 0) + 1,
                started_at=now.isoformat(),
                lease_until=(now + timedelta(seconds=lease_seconds)).isoformat(),
            )
            tx.set(ref, doc)
            return StepStatus.RUN

        return self._transact(ref, claim)

    def _step_fields(self, key: StepKey, fields: dict[str, Any]) -> dict[str, Any]:
        # `step`/`shard` are (re)written so a mark created by finish/fail alone
        # has them, as SQLite's does; they never change for a given doc id.
        return {"step": key.step, "shard": key.shard, **jsonish(fields), **self._ttl()}

    @_mapped
    def finish_step(self, key: StepKey, result: dict[str, Any]) -> None:
        """Mark the step done with a small result."""
        fields = self._step_fields(
            key,
            {
                "status": "done",
                "finished_at": _now().isoformat(),
                "lease_until": None,
                "result": result,
            },
        )
        # merge=[fields]: replace exactly these top-level fields (a previous
        # `result` map must not be deep-merged with the new one).
        self._step_ref(key).set(fields, merge=list(fields))  # type: ignore[arg-type]

    @_mapped
    def fail_step(self, key: StepKey, error: dict[str, Any], *, terminal: bool) -> None:
        """Record the failure on the step's mark only: one write, no transaction, no run document."""
        fields = self._step_fields(
            key,
            {
                "status": "failed" if terminal else "retrying",
                "error": error,
                "lease_until": None,
                "failed_at": _now().isoformat(),
            },
        )
        self._step_ref(key).set(fields, merge=list(fields))  # type: ignore[arg-type]

    @_mapped
    def wait_step(self, key: StepKey, record: dict[str, Any]) -> None:
        """Release the claim; the mark says what the step waits for (one write)."""
        fields = self._step_fields(
            key,
            {
                "status": "waiting",
                "waiting": record,
                "lease_until": None,
                "waiting_since": _now().isoformat(),
            },
        )
        self._step_ref(key).set(fields, merge=list(fields))  # type: ignore[arg-type]

    @_mapped
    def list_steps(self, run_id: str, status: str | None = None) -> list[dict[str, Any]]:
        """Every step mark of the run (or those with ``status``: one query), in step id order."""
        query: Any = self._run_ref(run_id).collection("steps")
        if status is not None:
            query = query.where(filter=FieldFilter("status", "==", status))
        return [_public(s.to_dict()) or {} for s in sorted(query.stream(), key=lambda s: s.id)]

    # ---- fan-in ---------------------------------------------------------------------
    def _fanin(self, run_id: str) -> firestore.CollectionReference:
        return self._run_ref(run_id).collection("fanin")

    def _count_once(
        self,
        marker: firestore.DocumentReference,
        counter: firestore.DocumentReference,
        fields: dict[str, Any],
    ) -> int | None:
        """Create ``marker`` and add 1 to ``counter`` in one batch; the counter's new value.

        None when the marker already exists (a redelivery): the batch is atomic,
        so nothing is counted twice. The increment is a server-side transform,
        not a read-modify-write, so concurrent shards do not abort each other.
        """
        ttl = self._ttl()
        batch = self.client.batch()
        batch.create(marker, {**fields, **ttl})
        batch.set(counter, {"count": firestore.Increment(1), **ttl}, merge=True)
        try:
            results = batch.commit()
        except gexc.AlreadyExists:
            return None
        return int(results[1].transform_results[0].integer_value)

    @staticmethod
    def _count(ref: firestore.DocumentReference) -> int:
        return int((ref.get().to_dict() or {}).get("count", 0))

    @_mapped
    def complete_shard(self, run_id: str, stage: str, shard: int, shard_count: int) -> bool:
        """Count ``shard`` in a two-level tree of counters; True once the stage is complete.

        The shard's marker and its group's increment go in one batch (group =
        shard % G, G = ceil(sqrt(n))); the shard whose increment fills its group
        then does the same for the group on the stage's root counter, and the
        one that fills the root knows the stage is complete. About 2n + 2G
        writes per stage, at most ~sqrt(n) on any one document. A redelivered
        shard (marker exists) re-reads its group and the root, and finishes a
        group's root step that its first delivery may have died before.
        """
        groups = fan_in_groups(shard_count)
        group = shard % groups
        fanin = self._fanin(run_id)
        group_ref = fanin.document(f"{stage}-group-{group:05d}")
        root_ref = fanin.document(f"{stage}-root")
        marker = {"stage": stage, "kind": "shard", "shard": shard, "at": _now().isoformat()}
        in_group = self._count_once(fanin.document(f"{stage}-shard-{shard:05d}"), group_ref, marker)
        if in_group is None:
            in_group = self._count(group_ref)
        if in_group < fan_in_group_size(group, groups, shard_count):
            return False
        marker = {"stage": stage, "kind": "group", "group": group, "at": _now().isoformat()}
        in_root = self._count_once(
            fanin.document(f"{stage}-groupdone-{group:05d}"), root_ref, marker
        )
        if in_root is None:
            in_root = self._count(root_ref)
        return in_root >= groups

    @_mapped
    def counted_shards(self, run_id: str, stage: str) -> set[int]:
        """The shards counted for ``stage`` (their markers)."""
        found = set()
        for snapshot in self._fanin(run_id).stream():
            doc = snapshot.to_dict() or {}
            if doc.get("kind") == "shard" and doc.get("stage") == stage:
                found.add(int(doc["shard"]))
        return found
