"""`latest.promote`: ``latest.*`` only ever moves to a newer run, whatever the interleaving."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from common import layout
from common.adapters.local.folder_blobstore import FolderBlobStore
from common.reporting import latest
from common.reporting.latest import LatestRun, promote, read_latest

T0 = datetime(2026, 11, 20, 18, 0, 5, tzinfo=UTC)


def _run(blobs: FolderBlobStore, run_id: str, started: datetime) -> LatestRun:
    """A run whose outputs are written, as the report step leaves them before promoting."""
    folder = layout.run_folder(started, run_id)
    objects = {}
    for name, filename in (
        (latest.ANALYSIS, "demo_analysis.csv"),
        (latest.IGNORED, "ignored.csv"),
        (latest.HTML, "report.html"),
    ):
        key = layout.output_key("demo", folder, filename)
        body = f"{run_id} {filename}"
        if filename.endswith(".html"):
            body = f'<a data-output href="demo_analysis.csv">{run_id}</a>'
        blobs.put_bytes(key, body.encode())
        objects[name] = key
    return LatestRun(run_id, started, folder, objects)


def _latest(root: Path, name: str) -> str:
    return (root / "output_run/demo" / name).read_text()


def test_first_run_becomes_latest_with_a_record(tmp_path: Path) -> None:
    blobs = FolderBlobStore(tmp_path)
    run = _run(blobs, "demo-a", T0)
    assert promote(blobs, "demo", run) is True
    assert _latest(tmp_path, "latest.csv") == "demo-a demo_analysis.csv"
    assert _latest(tmp_path, "latest_ignored.csv") == "demo-a ignored.csv"
    # latest.html sits one folder up: its links point into the run's folder.
    assert _latest(tmp_path, "latest.html") == (
        f'<a data-output href="{run.folder}/demo_analysis.csv">demo-a</a>'
    )
    record = json.loads(_latest(tmp_path, "latest.json"))
    assert record == {
        "run_id": "demo-a",
        "started_at": T0.isoformat(),
        "folder": run.folder,
        "objects": run.objects,
    }
    assert read_latest(blobs, "demo") == run


def test_an_older_run_finishing_last_leaves_latest_alone(tmp_path: Path) -> None:
    blobs = FolderBlobStore(tmp_path)
    older = _run(blobs, "demo-b", T0)
    newer = _run(blobs, "demo-a", T0 + timedelta(seconds=20))  # run ids need not sort by time
    assert promote(blobs, "demo", newer) is True
    assert promote(blobs, "demo", older) is False
    assert _latest(tmp_path, "latest.csv") == "demo-a demo_analysis.csv"
    assert read_latest(blobs, "demo") == newer
    # Same start time: the run id decides, so both reports agree on one order.
    twin = _run(blobs, "demo-c", newer.started_at)
    assert promote(blobs, "demo", twin) is True
    assert _latest(tmp_path, "latest.csv") == "demo-c demo_analysis.csv"


def test_a_redelivered_report_rewrites_its_own_copies(tmp_path: Path) -> None:
    blobs = FolderBlobStore(tmp_path)
    run = _run(blobs, "demo-a", T0)
    assert promote(blobs, "demo", run, {latest.ANALYSIS: b"fresh"}) is True
    record = (tmp_path / "output_run/demo/latest.json").read_bytes()
    (tmp_path / "output_run/demo/latest.csv").write_text("damaged")
    assert promote(blobs, "demo", run, {latest.ANALYSIS: b"fresh"}) is True
    assert _latest(tmp_path, "latest.csv") == "fresh"
    assert (tmp_path / "output_run/demo/latest.json").read_bytes() == record


class _SlowCopies(FolderBlobStore):
    """The folder store, where one report's copy of ``latest.csv`` is held back."""

    def __init__(self, root: Path, hold: bytes) -> None:
        super().__init__(root)
        self.hold = hold
        self.holding = threading.Event()
        self.release = threading.Event()

    def put_bytes(self, key: str, data: bytes, *args: object, **kwargs: object) -> None:
        if key.endswith("/latest.csv") and data == self.hold and not self.release.is_set():
            self.holding.set()
            assert self.release.wait(10)
        super().put_bytes(key, data, *args, **kwargs)  # type: ignore[arg-type]


def test_copies_of_an_older_run_landing_late_are_repaired(tmp_path: Path) -> None:
    """The older report recorded itself first; its latest.csv write lands after the newer's."""
    blobs = _SlowCopies(tmp_path, hold=b"demo-a demo_analysis.csv")
    older = _run(blobs, "demo-a", T0)
    newer = _run(blobs, "demo-b", T0 + timedelta(seconds=20))
    results: dict[str, bool] = {}
    slow = threading.Thread(target=lambda: results.update(older=promote(blobs, "demo", older)))
    slow.start()
    assert blobs.holding.wait(10)  # the older run is recorded, its copy is in flight
    assert read_latest(blobs, "demo") == older
    results["newer"] = promote(blobs, "demo", newer)
    assert _latest(tmp_path, "latest.csv") == "demo-b demo_analysis.csv"
    blobs.release.set()  # now the stale copy lands over the newer run's
    slow.join(10)
    assert results == {"older": False, "newer": True}
    assert _latest(tmp_path, "latest.csv") == "demo-b demo_analysis.csv"
    assert _latest(tmp_path, "latest_ignored.csv") == "demo-b ignored.csv"
    assert read_latest(blobs, "demo") == newer


def test_many_reports_at_once_end_on_the_newest(tmp_path: Path) -> None:
    blobs = FolderBlobStore(tmp_path)
    runs = [_run(blobs, f"demo-{i}", T0 + timedelta(seconds=i)) for i in range(8)]
    barrier = threading.Barrier(len(runs))

    def report(run: LatestRun) -> None:
        barrier.wait()
        promote(blobs, "demo", run)

    threads = [threading.Thread(target=report, args=(r,)) for r in reversed(runs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert read_latest(blobs, "demo") == runs[-1]
    assert _latest(tmp_path, "latest.csv") == "demo-7 demo_analysis.csv"
    assert _latest(tmp_path, "latest_ignored.csv") == "demo-7 ignored.csv"


def test_an_unreadable_record_is_replaced(tmp_path: Path) -> None:
    blobs = FolderBlobStore(tmp_path)
    blobs.put_bytes(layout.latest_key("demo", "latest.json"), b"{not json")
    run = _run(blobs, "demo-a", T0)
    assert promote(blobs, "demo", run) is True
    assert read_latest(blobs, "demo") == run


def test_run_folders_sort_by_start_time_and_keep_the_run_id() -> None:
    folder = layout.run_folder(T0, "demo-a")
    assert folder == "2026-11-20T18-00-05_demo-a"
    later = layout.run_folder(T0 + timedelta(seconds=1), "demo-0")
    assert sorted([later, folder]) == [folder, later]
