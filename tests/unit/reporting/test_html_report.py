"""The HTML report: escaped, self-contained, deterministic, with the right charts and rows."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from common.adapters.local.folder_blobstore import FolderBlobStore
from common.recipe import Recipe, load_recipe
from common.reporting.charts import ChartSpec, bars_for, choose_charts
from common.reporting.html import PAGE_SIZE, HtmlReportSink, relocate_links, render_report
from common.reporting.sinks import ReportContext
from common.reporting.urgency import Urgency, most_urgent, urgency
from common.settings import Settings

RECIPES = Path(__file__).resolve().parents[3] / "recipes"
WHEN = datetime(2026, 11, 20, 18, 0, tzinfo=UTC)
XSS = '<script>alert("x")</script>'
ATTR = '"><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module")
def stall() -> Recipe:
    return load_recipe("stall_reasons", RECIPES)


@pytest.fixture(scope="module")
def demo() -> Recipe:
    return load_recipe("demo", RECIPES)


def _frame(n: int = 6) -> pl.DataFrame:
    reasons = ["NO_REPLY", "PRICE_OR_TERMS", "NO_REPLY", None, "NEEDS_TIME", "NO_REPLY"]
    return pl.DataFrame(
        {
            "lead_key": [f"+52{i:04d}" for i in range(n)],
            "name": ["Ana", "Bob", XSS, "Dee", ATTR, "Fer"][:n],
            "conversation_state": ["stalled", "active", "stalled", "stalled", "active", "done"][:n],
            "HOURS_SINCE_LAST_MESSAGE": [5, 40, 3, 12, 700, 1][:n],
            "primary_stall_reason_code": reasons[:n],
            "recovery_score": [0, 9, 10, 55, 100, None][:n],
            "next_action": ["CALL_NOW"] * n,
            "last_user_message_text": ["ok", "qué tal", "</td></tr><tr><td>", "x", "y", "z"][:n],
        }
    )


def _render(recipe: Recipe, frame: pl.DataFrame, when: datetime = WHEN, **run: object) -> str:
    ignored = pl.DataFrame({"lead_key": ["+1", "+2"], "ignore_reason": ["no messages", "llm: bad"]})
    return render_report(
        title=recipe.name,
        description=recipe.meta.description,
        run={"run_id": "stall_reasons-1", "status": "succeeded", "seconds": 4.2, **run},
        analysis=frame,
        ignored=ignored,
        charts=choose_charts(recipe, frame),
        links={"Analysis CSV": "a.csv"},
        generated_at=when,
    )


def test_user_content_is_escaped_everywhere(stall: Recipe) -> None:
    frame = _frame().rename({"name": "<b>name</b>"})
    page = _render(stall, frame)
    assert XSS not in page and "<img" not in page and "<b>name" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "&lt;/td&gt;&lt;/tr&gt;&lt;tr&gt;&lt;td&gt;" in page
    assert "&lt;b&gt;name&lt;/b&gt;" in page
    # One script: ours. One row per lead: the injected </tr><tr> made no extra row.
    assert page.count("<script") == 1
    tbody = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert tbody.count("<tr") == frame.height


def test_only_the_reports_own_script_may_run_and_nothing_is_fetched(stall: Recipe) -> None:
    page = _render(stall, _frame())
    script = re.search(r"<script>(.*)</script>", page, re.S)
    assert script
    digest = base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in page and "default-src 'none'" in page
    without_svg_namespace = page.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert not re.search(r"(src|href)=\"?(https?:)?//", without_svg_namespace)
    assert "http://" not in without_svg_namespace and "https://" not in without_svg_namespace


def test_same_input_same_page_but_the_generated_line(stall: Recipe) -> None:
    first = _render(stall, _frame(), when=WHEN)
    second = _render(stall, _frame(), when=datetime(2027, 1, 1, tzinfo=UTC))
    assert first != second

    def strip(page: str) -> str:
        return re.sub(r"Generated [^<]*", "", page)

    assert strip(first) == strip(second)


def test_llm_category_and_score_fields_are_charted(stall: Recipe) -> None:
    frame = _frame()
    specs = {s.title: s for s in choose_charts(stall, frame)}
    assert specs["primary_stall_reason_code"].kind == "bars"
    assert specs["next_action"].kind == "bars"
    assert specs["recovery_score"].kind == "histogram"
    assert specs["recovery_score"].bounds == (0, 100)
    assert specs["conversation_state"].group == "Conversation states"
    assert "summary" not in specs and "name" not in specs
    reasons = {b.label: b.count for b in bars_for(frame, specs["primary_stall_reason_code"])}
    # Every allowed value shows, in the schema's order, zero or not; empty answers apart.
    assert list(reasons) == [
        *stall.llm.output_schema["primary_stall_reason_code"].values,
        "(empty)",
    ]
    assert reasons["NO_REPLY"] == 3 and reasons["TRUST_CONCERN"] == 0 and reasons["(empty)"] == 1
    page = _render(stall, frame)
    assert page.count('<svg class="chart"') == len(specs)
    assert 'data-col="primary_stall_reason_code" data-value="NO_REPLY"' in page


def test_score_histogram_bins() -> None:
    frame = pl.DataFrame({"recovery_score": [0, 9, 10, 55, 100, None]})
    spec = ChartSpec("histogram", ("recovery_score",), "LLM answers", bounds=(0, 100))
    bars = {b.label: b.count for b in bars_for(frame, spec)}
    assert bars["0–9"] == 2 and bars["10–19"] == 1 and bars["50–59"] == 1
    assert bars["90–100"] == 1 and bars["(empty)"] == 1 and sum(bars.values()) == 6


def test_null_and_empty_text_are_one_empty_bar() -> None:
    frame = pl.DataFrame({"reason": ["A", None, "", "A", None, ""] * 50})
    bars = {b.label: b.count for b in bars_for(frame, ChartSpec("bars", ("reason",), "x"))}
    assert bars == {"A": 100, "(empty)": 200}


def test_processor_states_and_flags_are_charted(demo: Recipe) -> None:
    frame = pl.DataFrame(
        {
            "lead_key": ["a", "b", "c"],
            "name": ["A", "B", "C"],
            "conversation_state": ["stalled_in_profiling", "active", "active"],
            "handoff_response": ["accepted", None, "declined"],
            "human_transfer": [True, False, False],
            "only_templates": [False, False, True],
        }
    )
    specs = choose_charts(demo, frame)
    assert [s.title for s in specs] == ["conversation_state", "handoff_response", "Share true"]
    flags = {b.label: b.count for b in bars_for(frame, specs[-1])}
    assert flags == {"human_transfer": 1, "only_templates": 1}


def test_summary_counts_reasons_and_llm_figures(stall: Recipe) -> None:
    llm = {"conversations": 10, "cache_hits": 4, "input_tokens": 12345, "reasons": {"bad": 2}}
    page = _render(stall, _frame(), llm=llm, failed_shards=[3])
    assert 'Leads in report</div><div class="v">6<' in page
    assert "no messages" in page and "llm: bad" in page
    assert "12,345" in page and "4 (40%)" in page and "Failed shards" in page


def test_large_tables_draw_one_page_and_count_every_row(stall: Recipe) -> None:
    n = PAGE_SIZE + 7
    frame = pl.DataFrame({"lead_key": [f"k{i:05d}" for i in range(n)], "name": ["x"] * n})
    page = _render(stall, frame)
    tbody = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert tbody.count("<tr hidden>") == 7 and tbody.count("<tr>") == PAGE_SIZE
    assert (
        f'<span id="matches">{n}</span>' in page and f'<span id="shown">{PAGE_SIZE}</span>' in page
    )


def _big(n: int) -> pl.DataFrame:
    """``n`` leads: scores cycling 0-99, half stalled, half active, the last one `rare`."""
    return pl.DataFrame(
        {
            "lead_key": [f"k{i:06d}" for i in range(n)],
            "conversation_state": ["stalled", "active"] * (n // 2 - 1) + ["stalled", "rare"],
            "HOURS_SINCE_LAST_USER_MESSAGE": [(i * 7) % 500 for i in range(n)],
            "recovery_score": [(i * 37) % 100 for i in range(n)],
        }
    )


def test_a_capped_table_holds_the_most_urgent_rows_and_counts_every_lead(stall: Recipe) -> None:
    frame = _big(5000)
    order = urgency(stall, frame)
    assert order == Urgency("recovery_score", descending=True)
    page = render_report(
        title="stall_reasons",
        description="",
        run={"run_id": "r", "status": "succeeded"},
        analysis=frame,
        ignored=pl.DataFrame({"lead_key": [], "ignore_reason": []}),
        charts=choose_charts(stall, frame),
        links={"Analysis CSV": "stall_reasons_analysis.csv"},
        generated_at=WHEN,
        max_rows=120,
        order=order,
        full_csv="stall_reasons_analysis.csv",
    )
    tbody = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    assert tbody.count("<tr") == 120
    # The summary and the charts count all 5,000 leads.
    assert 'Leads in report</div><div class="v">5,000<' in page
    assert ">2500 · " in page and ">2499 · " in page  # the `stalled` and `active` bars
    # The embedded rows are the highest scores (ties: the most recent user message, then key).
    best = frame.sort(
        ["recovery_score", "HOURS_SINCE_LAST_USER_MESSAGE", "lead_key"],
        descending=[True, False, False],
    ).head(120)
    keys = re.findall(r"<tr><td>(k\d+)</td>|<tr hidden><td>(k\d+)</td>", tbody)
    assert [a or b for a, b in keys] == best["lead_key"].to_list()
    assert 'aria-sort="descending"><button type="button">recovery_score<' in page
    note = re.search(r'<p class="table-note" id="table-note">(.*?)</p>', page)
    assert note and re.sub(r"<[^>]+>", "", note.group(1)) == (
        "120 of 5,000 leads shown, the most urgent first: highest recovery_score first. "
        "Every lead is in the analysis CSV."
    )
    assert '<a data-output href="stall_reasons_analysis.csv">analysis CSV</a>' in note.group(1)
    # A filter offers values of leads that are not embedded (a chart bar filters on them).
    assert '<option value="rare">' in page


def test_which_leads_come_first(stall: Recipe, demo: Recipe) -> None:
    score_mode = load_recipe("lead_scoring", RECIPES)
    scored = pl.DataFrame({"lead_key": ["a"], "lead_score": [3], "HOURS_SINCE_LAST_MESSAGE": [1]})
    assert urgency(score_mode, scored) == Urgency("lead_score", descending=True)
    hours = _big(4).drop("recovery_score")
    assert urgency(stall, hours) == Urgency("HOURS_SINCE_LAST_USER_MESSAGE")
    assert urgency(demo, _frame().drop("recovery_score")) == Urgency("HOURS_SINCE_LAST_MESSAGE")
    assert urgency(demo, pl.DataFrame({"lead_key": ["a"]})) == Urgency(None)
    # Empty scores go last, whatever the direction.
    frame = pl.DataFrame({"lead_key": ["a", "b", "c"], "recovery_score": [None, 5, 90]})
    order = urgency(stall, frame)
    assert most_urgent(frame, order, 3)["lead_key"].to_list() == ["c", "b", "a"]


def test_the_recipe_sets_how_many_rows_are_embedded(demo: Recipe) -> None:
    assert demo.meta.report.html_max_rows == 3000
    meta = demo.meta.model_dump() | {"report": {"html_max_rows": 50}}
    assert type(demo.meta).model_validate(meta).report.html_max_rows == 50
    with pytest.raises(ValueError, match="html_max_row"):
        type(demo.meta).model_validate(demo.meta.model_dump() | {"report": {"html_max_row": 5}})


def test_sink_writes_the_run_page_and_links_its_csvs(tmp_path: Path, demo: Recipe) -> None:
    blobs = FolderBlobStore(tmp_path)
    outputs = {"analysis": "a.csv"}
    folder = "2026-11-20T18-00-00_demo-1"
    context = ReportContext(
        run_id="demo-1",
        recipe=demo,
        run={"run_id": "demo-1", "status": "succeeded"},
        analysis=_frame(2).select("lead_key", "name", "conversation_state"),
        ignored=pl.DataFrame({"lead_key": [], "ignore_reason": []}),
        outputs=outputs,
        settings=Settings(),
        blobs=blobs,
        stamp=folder,
        now=WHEN,
    )
    record = HtmlReportSink().publish(context)
    stamped = tmp_path / f"output_run/demo/{folder}/report.html"
    assert record["status"] == "ok" and outputs["html"] == record["url"] == str(stamped)
    assert 'href="demo_analysis.csv"' in stamped.read_text()
    # latest.html is the promoted copy (common.reporting.latest), not the sink's to write.
    assert not (tmp_path / "output_run/demo/latest.html").exists()
    moved = relocate_links(stamped.read_bytes(), folder).decode()
    assert f'href="{folder}/demo_analysis.csv"' in moved and f'href="{folder}/ignored.csv"' in moved
    assert record["charts"] == ["conversation_state"]


def test_recovery_trend_across_runs_is_drawn(demo: Recipe) -> None:
    trend = [
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
    ]
    page = _render(demo, _frame(), recovery_trend=trend)
    assert "<h2>Recovery across runs</h2>" in page
    svg = re.search(r'<svg class="chart trend".*?</svg>', page, re.S)
    assert svg is not None
    lines = re.findall(r'data-series="(\w+)"><polyline points="([^"]+)"', svg.group(0))
    assert [name for name, _ in lines] == ["stalled", "called", "reached", "recovered"]
    assert all(len(points.split()) == 3 for _, points in lines)  # one point per run
    # The highest count is at the top of the plot, the run's own figures in the caption.
    assert "recovered 20, recovery rate 6.7%" in svg.group(0)
    assert "demo-&lt;run&gt;2" in svg.group(0) and "<run>" not in svg.group(0)
    assert "3 run(s); this run: 20 recovered of 300 leads (6.7%)" in page
    assert "Recovery across runs" not in _render(demo, _frame())  # no results rows yet


def test_guided_topics_their_change_and_the_new_themes_are_shown(demo: Recipe) -> None:
    topics = {
        "sizes": {"price and terms": 343, XSS: 5},
        "new_themes": 690,
        "previous_run": "customer_themes-0",
        "change": {"price and terms": 12, XSS: -3},
        "new_themes_change": -20,
        "new_theme_clusters": [{"label": "root.0.1", "name": "documents / uploaded", "size": 23}],
    }
    page = _render(demo, _frame(), clustering={"topics": topics})
    assert "<h3>Guided topics</h3>" in page
    assert '<td>price and terms</td><td class="n">343</td><td class="n">+12</td>' in page
    assert '<td>New themes (no topic)</td><td class="n">690</td><td class="n">-20</td>' in page
    assert "customer_themes-0" in page and "documents / uploaded" in page and "root.0.1" in page
    assert XSS not in page
    # A first run has nothing to compare with.
    first = {k: v for k, v in topics.items() if k in ("sizes", "new_themes")}
    page = _render(demo, _frame(), clustering={"topics": first})
    assert '<td>price and terms</td><td class="n">343</td><td class="n">—</td>' in page
    assert "<h3>Guided topics</h3>" not in _render(demo, _frame())
