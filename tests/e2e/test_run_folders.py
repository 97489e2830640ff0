"""Two runs of a recipe started in the same minute: separate folders, ``latest.*`` the newer's.

Both runs go through the in-process bus together (their steps interleave, as
on Pub/Sub); the driver holds one run's report message back so that either
report can finish first.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from common import chain
from common.messages import RunOptions, RunRequest
from common.settings import Settings
from common.steps.context import StepContext
from common.steps.dispatch import deliver, step_for_topic
from tests.e2e.conftest import AS_OF

START = AS_OF + timedelta(seconds=5)
OLDER, NEWER = "demo-zz-older", "demo-aa-newer"  # run ids sorting against time: time decides
STARTS = {OLDER: START, NEWER: START + timedelta(seconds=40)}  # the same minute
# Different columns, so the two runs' CSVs tell which run a copy came from.
OPTIONS = {
    OLDER: RunOptions(as_of=AS_OF, exclude_columns=("campaign",)),
    NEWER: RunOptions(as_of=AS_OF),
}


def _run_both(report_last: str) -> tuple[StepContext, list[str]]:
    """Run OLDER and NEWER together; deliver ``report_last``'s report after the other's."""
    ctx = StepContext.from_settings(Settings())
    bus = ctx.backends.bus
    for run_id in (OLDER, NEWER):
        request = RunRequest(recipe="demo", run_id=run_id, options=OPTIONS[run_id])
        bus.publish(chain.BY_NAME["fetch_leads"].topic, request)
    held = []  # report_last's report, while the other run has not reported
    reported: list[str] = []

    def dispatch(delivery) -> None:  # type: ignore[no-untyped-def]
        if delivery.topic.endswith(chain.DEAD_LETTER_SUFFIX):
            return
        step = step_for_topic(delivery.topic)
        run_id = json.loads(delivery.data)["run_id"]
        if step == "report" and run_id == report_last and len(reported) == 0:
            held.append(delivery)
            return
        # The start message's publish time is the run's start time.
        deliver(
            ctx, step, delivery.data, message_id=delivery.message_id, publish_time=STARTS[run_id]
        )
        if step == "report":
            reported.append(run_id)

    bus.drain(dispatch)
    for delivery in held:
        dispatch(delivery)
    bus.drain(dispatch)
    return ctx, reported


@pytest.mark.parametrize(
    "report_last", [OLDER, NEWER], ids=["newer-reports-first", "older-reports-first"]
)
def test_same_minute_runs_keep_their_outputs_and_latest_is_the_newer(
    local_env: Path, report_last: str
) -> None:
    ctx, reported = _run_both(report_last)
    assert reported[-1] == report_last and sorted(reported) == sorted([OLDER, NEWER])
    out = local_env / "output_run" / "demo"

    # One folder per run, named <start time to the second>_<run id>, sorting by start time.
    folders = sorted(p.name for p in out.iterdir() if p.is_dir())
    assert folders == [f"2026-11-20T18-00-05_{OLDER}", f"2026-11-20T18-00-45_{NEWER}"]
    older, newer = (out / name for name in folders)
    for folder in (older, newer):
        assert {p.name for p in folder.iterdir()} >= {
            "demo_analysis.csv",
            "ignored.csv",
            "report.html",
        }
    older_csv = (older / "demo_analysis.csv").read_bytes()
    newer_csv = (newer / "demo_analysis.csv").read_bytes()
    assert (
        b"campaign" in newer_csv.split(b"\n", 1)[0]
        and b"campaign" not in older_csv.split(b"\n", 1)[0]
    )

    # latest.* are the newer run's, whichever report finished last.
    assert (out / "latest.csv").read_bytes() == newer_csv
    assert (out / "latest_ignored.csv").read_bytes() == (newer / "ignored.csv").read_bytes()
    page = (out / "latest.html").read_text(encoding="utf-8")
    assert f"<code>{NEWER}</code>" in page
    links = re.findall(r'<a data-output href="([^"]+)"', page)
    assert links and all(link.startswith(f"{newer.name}/") for link in links)
    assert all((out / link).is_file() for link in links)
    record = json.loads((out / "latest.json").read_text())
    assert record["run_id"] == NEWER and record["folder"] == newer.name
    assert record["started_at"] == STARTS[NEWER].isoformat()

    state = ctx.backends.state
    assert (state.get_run(NEWER) or {})["latest"] is True
    assert (state.get_run(OLDER) or {})["latest"] is (report_last == NEWER)
    for run_id, folder in ((OLDER, older), (NEWER, newer)):
        outputs = (state.get_run(run_id) or {})["outputs"]
        assert outputs["analysis"] == str(folder / "demo_analysis.csv")
        assert outputs["html"] == str(folder / "report.html")
