"""The HTML report, byte for byte: the pages a few representative runs produce.

The pages under ``tests/data/html_golden/`` were rendered by the f-string
renderer the Jinja2 templates replaced; the templates must keep producing
them exactly (escaping included: ``'`` is ``&#x27;`` as ``html.escape``
writes it). A deliberate change of the page regenerates them::

    .venv/bin/python -m tests.unit.reporting.test_html_golden

and the diff of ``tests/data/html_golden/`` is reviewed with the change.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from common.adapters.local.folder_blobstore import FolderBlobStore
from common.recipe import load_recipe
from common.reporting.charts import choose_charts
from common.reporting.html import HtmlReportSink, relocate_links, render_report
from common.reporting.sinks import ReportContext
from common.reporting.urgency import urgency
from common.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
RECIPES = ROOT / "recipes"
GOLDEN = ROOT / "tests" / "data" / "html_golden"
WHEN = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
XSS = '<script>alert("x")</script>'
ATTR = "\"'><img src=x onerror=alert(1)>"
AMP = 'Tom & Jerry\'s "deal" <b>now</b>'


def _customers(n: int) -> pl.DataFrame:
    """``n`` leads with the demo's kinds of columns and hostile customer text."""
    texts = [XSS, ATTR, AMP, "qué tal 🙂", "</td></tr><tr><td>", "", None, "=IMPORTXML(1)"]
    states = ["stalled_in_profiling", "handoff_completed", "handoff_pending", "active", None]
    start = datetime(2026, 11, 1, 3, 15, 54, 992563, tzinfo=UTC)
    return pl.DataFrame(
        {
            "lead_key": [f"+5255{i:06d}" for i in range(n)],
            "name": [f"Cliente {i} O'Neil & Co" if i % 3 else texts[i % 8] for i in range(n)],
            "conversation_state": [states[i % 5] for i in range(n)],
            "last_message_ts": [start + timedelta(hours=7 * i) for i in range(n)],
            "last_user_message_text": [texts[(i * 3) % 8] for i in range(n)],
            "HOURS_SINCE_LAST_MESSAGE": [(i * 37) % 400 for i in range(n)],
            "HOURS_SINCE_LAST_USER_MESSAGE": [
                None if i % 7 == 0 else (i * 11) % 500 for i in range(n)
            ],
            "LAST_MESSAGE_IN_BUSINESS_HOURS": [i % 2 == 0 for i in range(n)],
            "handoff_response": [
                ["accepted", "no_answer", None, 'it\'s "later"'][i % 4] for i in range(n)
            ],
            "template_count": [i % 4 for i in range(n)],
            "recovery_rate": [None if i % 5 == 0 else i / 7 for i in range(n)],
        }
    )


def _ignored() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "lead_key": ["+1", "+2", "+3", "+4"],
            "ignore_reason": ["no messages", "llm: bad <json> & 'quotes'", "no messages", None],
        }
    )


def _full_run() -> dict[str, Any]:
    return {
        "run_id": "demo-20261120T180000-<&'\">",
        "status": "partial",
        "seconds": 5432.1,
        "failed_shards": [3, "7<b>"],
        "as_of": "2026-11-20T18:00:00+00:00",
        "started_at": "2026-11-20T12:00:00-06:00",
        "finished_at": "not a time & <b>",
        "llm": {
            "conversations": 1234,
            "cache_hits": 500,
            "llm_calls": 734,
            "repairs": 2,
            "input_tokens": 12345,
            "output_tokens": 0.5,
            "reasons": {"bad <json>": 3, "Tom's": 1.25},
            "empty_mapping": {},
            "custom_<key>": "x & y",
        },
        "metrics": {
            "tokens": {"input": 12345, "output": 678},
            "cost": {"usd": 0.01234, "model": "gemini's <flash>"},
            "llm": {"conversations": 1234, "cache_hits": 500, "cache_lookups": 1234},
            "ignored": {"total": 4, "by_reason": {"no messages": 2, "llm: <bad>": 1}},
            "stages": {"report": {"marks": 2, "seconds_sum": 3.5, "seconds_max": 2.0}},
            "wall_seconds": 61.0,
        },
        "clustering": {
            "topics": {
                "sizes": {"price & terms": 343, XSS: 5, 'Tom\'s "deal"': 0},
                "new_themes": 690,
                "previous_run": "customer_themes-0 <'&'>",
                "change": {"price & terms": 12, XSS: -3},
                "new_themes_change": -20,
                "new_theme_clusters": [
                    {"label": "root.0.1", "name": "documents / uploaded", "size": 23, "of": 40},
                    {"label": "root.'1'", "name": ATTR, "size": 2.5},
                ],
            }
        },
        "recovery_trend": [
            {
                "run_id": f"demo-<run>{i}",
                "run_started_at": datetime(2026, 11, 20 + i, 18, tzinfo=UTC),
                "leads": 300,
                "stalled": 285 - 10 * i,
                "called": 40 * i,
                "reached": 25 * i,
                "recovered": 10 * i,
                "recovery_rate": 10 * i / 300,
            }
            for i in range(3)
        ],
    }


def _demo_full() -> str:
    demo = load_recipe("demo", RECIPES)
    frame = _customers(60)
    return render_report(
        title='demo\'s <report> & "more"',
        description=AMP,
        run=_full_run(),
        analysis=frame,
        ignored=_ignored(),
        charts=choose_charts(demo, frame),
        links={"Analysis CSV": "demo analysis&'.csv", "Ignored <CSV>": "ignored.csv"},
        generated_at=WHEN,
        order=urgency(demo, frame),
        full_csv="demo analysis&'.csv",
    )


def _capped() -> str:
    stall = load_recipe("stall_reasons", RECIPES)
    n = 1300
    frame = _customers(n).with_columns(
        pl.Series("recovery_score", [None if i % 11 == 0 else (i * 37) % 101 for i in range(n)]),
        pl.Series(
            "primary_stall_reason_code", [["NO_REPLY", None, "NEEDS_TIME"][i % 3] for i in range(n)]
        ),
    )
    return render_report(
        title="stall_reasons",
        description="",
        run={"run_id": "stall_reasons-1", "status": "succeeded", "seconds": 42},
        analysis=frame,
        ignored=pl.DataFrame({"lead_key": [], "ignore_reason": []}),
        charts=choose_charts(stall, frame),
        links={"Analysis CSV": "stall_reasons_analysis.csv"},
        generated_at=WHEN,
        max_rows=700,
        order=urgency(stall, frame),
        full_csv="stall_reasons_analysis.csv",
    )


def _empty() -> str:
    return render_report(
        title="empty",
        description="No leads today.",
        run={},
        analysis=pl.DataFrame({"lead_key": []}, schema={"lead_key": pl.String}),
        ignored=pl.DataFrame({"lead_key": []}, schema={"lead_key": pl.String}),
        charts=[],
        links={},
        generated_at=datetime(2026, 11, 20, 18, 0),
    )


def _sink(tmp: Path) -> tuple[bytes, bytes]:
    """The sink's stored page for the demo recipe, and its ``latest.html`` relocation."""
    demo = load_recipe("demo", RECIPES)
    folder = "2026-11-20T18-00-00_demo 1&'x"
    context = ReportContext(
        run_id="demo-1",
        recipe=demo,
        run={
            "run_id": "demo-1",
            "status": "succeeded",
            "seconds": 3.25,
            "llm": {"conversations": 0},
        },
        analysis=_customers(25),
        ignored=_ignored(),
        outputs={"analysis": "a.csv"},
        settings=Settings(),
        blobs=FolderBlobStore(tmp),
        stamp=folder,
        now=WHEN,
    )
    HtmlReportSink().publish(context)
    page = (tmp / f"output_run/demo/{folder}/report.html").read_bytes()
    return page, relocate_links(page, folder)


def pages(tmp: Path) -> dict[str, bytes]:
    """Every golden page by file name."""
    sink, latest = _sink(tmp)
    return {
        "demo_full.html": _demo_full().encode("utf-8"),
        "capped.html": _capped().encode("utf-8"),
        "empty.html": _empty().encode("utf-8"),
        "sink_report.html": sink,
        "sink_latest.html": latest,
    }


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return pages(tmp_path_factory.mktemp("golden"))


@pytest.mark.parametrize(
    "name", ["demo_full.html", "capped.html", "empty.html", "sink_report.html", "sink_latest.html"]
)
def test_the_page_is_the_same_byte_for_byte(rendered: dict[str, bytes], name: str) -> None:
    expected = (GOLDEN / name).read_bytes()
    page = rendered[name]
    if page != expected:  # point at the first difference, not at two 1 MB strings
        at = next(
            (i for i, (a, b) in enumerate(zip(page, expected, strict=False)) if a != b),
            min(len(page), len(expected)),
        )
        pytest.fail(
            f"{name} differs at byte {at}: got {page[at - 80 : at + 80]!r}, "
            f"expected {expected[at - 80 : at + 80]!r}"
        )


def test_the_golden_pages_hold_what_they_are_meant_to(rendered: dict[str, bytes]) -> None:
    """Guard against regenerating fixtures that no longer exercise the escaping and the cap."""
    full = rendered["demo_full.html"].decode()
    assert XSS not in full and "<img" not in full and "&#x27;" in full and "&amp;" in full
    assert "<h3>Guided topics</h3>" in full and "Recovery across runs" in full
    assert "<h3>Run metrics</h3>" in full and "Failed shards" in full
    capped = rendered["capped.html"].decode()
    assert capped.count("<tr hidden>") == 200 and "Every lead is in the" in capped
    moved = b'href="2026-11-20T18-00-00_demo%201%26%27x/demo_analysis.csv"'
    assert moved in rendered["sink_latest.html"]


if __name__ == "__main__":
    import tempfile

    GOLDEN.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for file, page in pages(Path(tmp)).items():
            (GOLDEN / file).write_bytes(page)
            print(f"wrote {GOLDEN / file} ({len(page):,} bytes)")
