"""The report of a 100,000-lead run: a small page that says what it holds and links the rest.

The analysis is the demo's own output (a 300-lead run, every column of the
demo recipe with its real values) repeated to 100,000 leads with new keys;
the page is written by the report's HTML sink and promoted to ``latest.html``
as the report step does, then opened in headless Chromium.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import polars as pl
import pytest

from common import layout
from common.adapters.local.folder_blobstore import FolderBlobStore
from common.local_runner import run_recipe
from common.messages import RunOptions
from common.reporting import latest
from common.reporting.html import HtmlReportSink
from common.reporting.sinks import ReportContext
from common.settings import Settings
from common.steps.context import StepContext
from common.steps.report import to_csv
from tests.e2e.conftest import AS_OF, REPO
from tests.support.headless import INSTALL_HINT, Browser, find_chromium

LEADS = 100_000
MAX_BYTES = 5 * 1024 * 1024
RUN_ID = "demo-big"
SCREENSHOTS = REPO / "output_run" / "screenshots"
LINKS = "[...document.querySelectorAll('a[data-output]')].map(a => [a.textContent, a.href])"


@pytest.fixture
def big_report(local_env: Path) -> tuple[Path, Path, Path]:
    """The 100,000-lead report: (report.html, latest.html, the analysis CSV)."""
    ctx = StepContext.from_settings(Settings())
    small = run_recipe(ctx, "demo", RunOptions(as_of=AS_OF), progress=False)
    sample = pl.read_csv(small.outputs["analysis"], try_parse_dates=True)
    assert 0 < sample.height < 1000 and sample.width > 30
    copies = -(-LEADS // sample.height)
    analysis = (
        pl.concat([sample] * copies)
        .head(LEADS)
        .with_columns(
            pl.format("+52{}", pl.int_range(pl.len()).cast(pl.String).str.zfill(10)).alias(
                "lead_key"
            )
        )
    )
    recipe = ctx.recipe("demo")
    started = datetime.now(UTC)  # after the small run: the big one becomes latest
    folder = layout.run_folder(started, RUN_ID)
    blobs = FolderBlobStore(local_env)
    analysis_key = layout.output_key("demo", folder, "demo_analysis.csv")
    ignored_key = layout.output_key("demo", folder, "ignored.csv")
    blobs.put_bytes(analysis_key, to_csv(analysis))
    ignored = pl.DataFrame(
        {"lead_key": ["+1"], "ignore_reason": ["no messages found for this lead"]}
    )
    blobs.put_bytes(ignored_key, to_csv(ignored))
    outputs = {"analysis": blobs.url(analysis_key), "ignored": blobs.url(ignored_key)}
    run = {
        "run_id": RUN_ID,
        "status": "succeeded",
        "started_at": started.isoformat(),
        "rows": analysis.height,
        "ignored": 1,
        "seconds": 42.0,
    }
    context = ReportContext(
        run_id=RUN_ID,
        recipe=recipe,
        run=run,
        analysis=analysis,
        ignored=ignored,
        outputs=outputs,
        settings=ctx.settings,
        blobs=blobs,
        stamp=folder,
    )
    record = HtmlReportSink().publish(context)
    html_key = layout.output_key("demo", folder, "report.html")
    copies_of = {latest.ANALYSIS: analysis_key, latest.IGNORED: ignored_key, latest.HTML: html_key}
    assert latest.promote(blobs, "demo", latest.LatestRun(RUN_ID, started, folder, copies_of))
    out = local_env / "output_run" / "demo"
    assert record["bytes"] == (out / folder / "report.html").stat().st_size
    return out / folder / "report.html", out / "latest.html", out / folder / "demo_analysis.csv"


def _target(href: str) -> Path:
    """The file a ``file://`` link opens."""
    parts = urlsplit(href)
    assert parts.scheme == "file", href
    return Path(unquote(parts.path))


@pytest.mark.browser
def test_a_100k_lead_report_is_small_shows_its_count_and_links_the_full_csv(
    big_report: tuple[Path, Path, Path],
) -> None:
    binary = find_chromium()
    if binary is None:
        pytest.fail(INSTALL_HINT)
    page, latest_page, analysis_csv = big_report
    for html in (page, latest_page):
        size = html.stat().st_size
        assert size < MAX_BYTES, f"{html.name} is {size / 1e6:.1f} MB"
    print(f"\n100,000-lead report: {page.stat().st_size / 1e6:.2f} MB")  # noqa: T201

    with Browser(binary) as browser:
        for html in (page, latest_page):
            browser.open(html.as_uri())
            browser.wait_for("document.body.dataset.ready === '1'", timeout=30)
            note = browser.evaluate("document.getElementById('table-note').textContent")
            assert note.startswith("3,000 of 100,000 leads shown, the most urgent first"), note
            assert "HOURS_SINCE_LAST_USER_MESSAGE" in note
            assert browser.evaluate("document.querySelectorAll('#leads tbody tr').length") == 3000
            assert (
                browser.evaluate(
                    "document.querySelectorAll('#leads tbody tr:not([hidden])').length"
                )
                == 500
            )
            # The summary counts every lead, not the embedded ones.
            cards = browser.evaluate(
                "[...document.querySelectorAll('.card')].map(c => c.textContent).join('|')"
            )
            assert "Leads in report100,000" in cards
            # The first row is the lead who wrote most recently.
            hours = browser.evaluate(
                "[...document.querySelectorAll('#leads th')].findIndex("
                "th => th.textContent === 'HOURS_SINCE_LAST_USER_MESSAGE')"
            )
            first = browser.evaluate(
                f"document.querySelector('#leads tbody tr').cells[{hours}].textContent"
            )
            column = pl.read_csv(analysis_csv, columns=["HOURS_SINCE_LAST_USER_MESSAGE"])
            assert float(first) == column["HOURS_SINCE_LAST_USER_MESSAGE"].min()
            # Every output link opens the run's own objects, from either page.
            links = dict(browser.evaluate(LINKS))
            assert _target(links["analysis CSV"]) == analysis_csv
            assert _target(links["Analysis CSV"]) == analysis_csv
            assert _target(links["Ignored CSV"]) == analysis_csv.parent / "ignored.csv"
            assert all(_target(href).is_file() for href in links.values())
        browser.screenshot(SCREENSHOTS / "report-100k.png")
