"""Which run ``latest.*`` shows: only a newer run replaces it.

``output_run/<recipe>/latest.json`` records the run that ``latest.csv``,
``latest_ignored.csv`` and ``latest.html`` are copies of: its run id, start
time, folder and the object each copy comes from. A run is newer when it
started later; two runs that started in the same instant are ordered by run
id. The record is only ever changed by compare-and-swap
(``put_bytes(..., if_generation_match=...)``), so of two reports finishing at
once exactly one decides at a time.

The copies themselves are plain writes that cannot be made atomic with the
record, so `promote` checks the record again after writing them: a report
whose copies may have landed over those of a newer run (which recorded itself
meanwhile) writes the newer run's copies again, from that run's folder. Every
report ends by writing the copies of the run the record names after it read
it, so the copies converge on the newest run whatever the interleaving; a
report that dies half way is redelivered and finishes the job.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from common import layout
from common.errors import DataError, TransientError
from common.ports.blobstore import BlobNotFound, BlobStore, GenerationMismatch

log = logging.getLogger(__name__)

RECORD = "latest.json"
ANALYSIS = "latest.csv"
IGNORED = "latest_ignored.csv"
HTML = "latest.html"
MAX_ROUNDS = 10
"""Record changes one promotion waits out before giving up (and being redelivered)."""

_CONTENT_TYPES = {".csv": "text/csv", ".html": "text/html; charset=utf-8"}


@dataclass(frozen=True)
class LatestRun:
    """One run's entry in ``latest.json``."""

    run_id: str
    started_at: datetime
    """The run's start time (timezone-aware), as on the run document."""
    folder: str
    """The run's output folder (`layout.run_folder`)."""
    objects: dict[str, str] = field(default_factory=dict)
    """Latest copy name (``latest.csv``…) → the key of the run's object it copies."""

    def is_newer_than(self, other: LatestRun) -> bool:
        """Started later, or in the same instant with a greater run id."""
        return (self.started_at, self.run_id) > (other.started_at, other.run_id)

    def to_json(self) -> bytes:
        """The record's bytes (keys sorted: the same run always writes the same bytes)."""
        doc = {
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(),
            "folder": self.folder,
            "objects": self.objects,
        }
        return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes, *, where: str) -> LatestRun:
        """Parse a record.

        Raises:
            DataError: the bytes are not a record this module wrote.
        """
        try:
            doc: dict[str, Any] = json.loads(data)
            started = datetime.fromisoformat(doc["started_at"])
            if started.tzinfo is None:
                raise ValueError("started_at has no time zone")
            return cls(
                run_id=str(doc["run_id"]),
                started_at=started,
                folder=str(doc["folder"]),
                objects={str(k): str(v) for k, v in dict(doc["objects"]).items()},
            )
        except (ValueError, KeyError, TypeError) as err:
            raise DataError(
                f"not a latest record: {err}",
                where=where,
                expected='{"run_id", "started_at", "folder", "objects"}',
            ) from err


def read_latest(blobs: BlobStore, recipe: str) -> LatestRun | None:
    """The run ``latest.*`` shows for ``recipe`` (None before the first promoted run)."""
    key = layout.latest_key(recipe, RECORD)
    try:
        return LatestRun.from_json(blobs.get_bytes(key), where=blobs.url(key))
    except BlobNotFound:
        return None


def _read(blobs: BlobStore, key: str) -> tuple[LatestRun | None, int]:
    try:
        found = blobs.get_versioned(key)
    except BlobNotFound:
        return None, 0
    try:
        return LatestRun.from_json(found.data, where=blobs.url(key)), found.generation
    except DataError as err:
        # Hand-edited or truncated: the next run replaces it (by its generation, still).
        log.warning("latest: %s; replacing it", err)
        return None, found.generation


def _content(blobs: BlobStore, run: LatestRun, name: str, source: str) -> bytes | None:
    """What the copy ``name`` of ``run`` holds, read from the run's own object."""
    try:
        data = blobs.get_bytes(source)
    except BlobNotFound:
        log.warning("latest: %s of run %s is gone; %s not rewritten", source, run.run_id, name)
        return None
    if name.endswith(".html"):
        # The page sits one folder up from the run's report.html: its links move with it.
        from common.reporting.html import relocate_links

        data = relocate_links(data, run.folder)
    return data


def _write_copies(
    blobs: BlobStore, recipe: str, run: LatestRun, contents: Mapping[str, bytes]
) -> None:
    for name, source in sorted(run.objects.items()):
        data = contents[name] if name in contents else _content(blobs, run, name, source)
        if data is None:
            continue
        suffix = name[name.rfind(".") :]
        blobs.put_bytes(layout.latest_key(recipe, name), data, _CONTENT_TYPES.get(suffix))


def promote(
    blobs: BlobStore,
    recipe: str,
    run: LatestRun,
    contents: Mapping[str, bytes] | None = None,
) -> bool:
    """Make ``latest.*`` this run's copies, unless a newer run is already recorded.

    Safe when several reports of the recipe finish at once, and for a
    redelivered report (the same run rewrites the same bytes).

    Args:
        blobs: The blob store.
        recipe: The recipe's name.
        run: This run's entry; its ``objects`` must already be written.
        contents: Bytes of this run's copies by name (``latest.csv``…) when the
            caller has them; the others are read from ``run.objects``.

    Returns:
        Whether this run is now the one ``latest.*`` shows.

    Raises:
        TransientError: the record kept changing (`MAX_ROUNDS` times); redeliver.
    """
    key = layout.latest_key(recipe, RECORD)
    wrote = False
    for _ in range(MAX_ROUNDS):
        current, generation = _read(blobs, key)
        if current is None or not current.is_newer_than(run):
            if current != run:
                try:
                    blobs.put_bytes(
                        key, run.to_json(), "application/json", if_generation_match=generation
                    )
                except GenerationMismatch:
                    continue  # another report changed the record: decide again
            winner = run
        elif not wrote:
            log.info("latest: run %s is newer than %s; left as is", current.run_id, run.run_id)
            return False
        else:
            # A newer run recorded itself while we wrote: ours may have landed over its.
            winner = current
        _write_copies(blobs, recipe, winner, (contents or {}) if winner is run else {})
        wrote = True
        after, _ = _read(blobs, key)
        if after == winner:
            return winner is run
    raise TransientError(
        f"latest.json kept changing under {MAX_ROUNDS} promotions",
        where=blobs.url(key),
    )
