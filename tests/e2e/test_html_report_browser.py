"""The demo's HTML report in headless Chromium: every row there, search and filters work.

Chromium comes from `scripts/ensure_chromium.sh` (run by `make test`); without
it this test fails with the install hint, it never skips. Screenshots go to
``output_run/screenshots/`` at the repository root.
"""

from __future__ import annotations

import csv
import io
import json
import unicodedata
from pathlib import Path

import pytest

from common.local_runner import run_recipe
from common.messages import RunOptions
from common.settings import Settings
from common.steps.context import StepContext
from tests.e2e.conftest import AS_OF, REPO
from tests.support.headless import INSTALL_HINT, Browser, find_chromium

SCREENSHOTS = REPO / "output_run" / "screenshots"
ROWS_SHOWN = "document.querySelectorAll('#leads tbody tr:not([hidden])').length"
MATCHES = "Number(document.getElementById('matches').textContent)"


def _norm(text: str) -> str:
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def _matching(rows: list[dict[str, str]], query: str) -> list[dict[str, str]]:
    """What the report's search promises: every word, anywhere in the row, case/accents aside."""
    terms = _norm(query).split()
    return [r for r in rows if all(t in _norm("\u0001".join(r.values())) for t in terms)]


@pytest.fixture
def demo_report(local_env: Path) -> tuple[Path, list[dict[str, str]]]:
    """Run the demo recipe; its latest.html and latest.csv rows."""
    summary = run_recipe(
        StepContext.from_settings(Settings()), "demo", RunOptions(as_of=AS_OF), progress=False
    )
    assert summary.status == "succeeded"
    out = local_env / "output_run" / "demo"
    html = out / "latest.html"
    assert html.is_file(), (
        "the demo run wrote no latest.html: the report step must call "
        "common.reporting.run_sinks after writing the CSVs"
    )
    assert summary.outputs.get("html", "").endswith("report.html")
    rows = list(csv.DictReader(io.StringIO((out / "latest.csv").read_text(encoding="utf-8"))))
    return html, rows


@pytest.mark.browser
def test_demo_report_counts_rows_and_filters_in_chromium(
    demo_report: tuple[Path, list[dict[str, str]]],
) -> None:
    binary = find_chromium()
    if binary is None:
        pytest.fail(INSTALL_HINT)
    html, rows = demo_report
    assert 0 < len(rows) < 500  # the sample fits one page: every row is drawn
    with Browser(binary) as page:
        page.open(html.as_uri())
        page.wait_for("document.body.dataset.ready === '1'")
        assert page.evaluate(ROWS_SHOWN) == len(rows)
        assert page.evaluate(MATCHES) == len(rows)
        assert page.evaluate("document.getElementById('total').textContent") == str(len(rows))
        assert page.evaluate("document.querySelectorAll('svg.chart').length") >= 3
        page.screenshot(SCREENSHOTS / "report.png")

        # Typing in the search box narrows the table to the rows holding every word.
        query = "stalled profiling"
        expected = _matching(rows, query)
        assert 0 < len(expected) < len(rows)
        page.type_text("#search", query)
        assert page.evaluate(ROWS_SHOWN) == page.evaluate(MATCHES) == len(expected)
        shown_keys = page.evaluate(
            "[...document.querySelectorAll('#leads tbody tr:not([hidden])')]"
            ".map(r => r.cells[0].textContent)"
        )
        # The page lists the most urgent first (docs/reports.md), the CSV by key.
        assert sorted(shown_keys) == [r["lead_key"] for r in expected]

        # A column filter combines with the search; clearing brings every row back.
        sender = expected[0]["last_message_sender"]
        both = [r for r in expected if r["last_message_sender"] == sender]
        page.evaluate(
            "(() => { const s = document.querySelector('select[data-col=\"last_message_sender\"]');"
            f" s.value = {json.dumps(sender)}; s.dispatchEvent(new Event('change')); }})()"
        )
        assert page.evaluate(MATCHES) == page.evaluate(ROWS_SHOWN) == len(both)
        page.screenshot(SCREENSHOTS / "report-filtered.png")
        page.evaluate("document.getElementById('reset').click()")
        assert page.evaluate(ROWS_SHOWN) == len(rows)

        # A chart bar filters on its value.
        state = rows[0]["conversation_state"]
        page.evaluate(
            'document.querySelector(\'g.filterable[data-col="conversation_state"]'
            f"[data-value={json.dumps(state)}]').dispatchEvent(new MouseEvent('click'))"
        )
        in_state = sum(1 for r in rows if r["conversation_state"] == state)
        assert page.evaluate(MATCHES) == in_state
        page.evaluate("document.getElementById('reset').click()")

        # Sorting a numeric column orders by number, descending on the second click.
        page.evaluate(
            "[...document.querySelectorAll('#leads th')]"
            ".find(th => th.textContent === 'HOURS_SINCE_LAST_MESSAGE').querySelector('button')"
            ".click()"
        )
        page.evaluate(
            "[...document.querySelectorAll('#leads th')]"
            ".find(th => th.textContent === 'HOURS_SINCE_LAST_MESSAGE').querySelector('button')"
            ".click()"
        )
        column = list(rows[0]).index("HOURS_SINCE_LAST_MESSAGE")
        first = page.evaluate(
            f"document.querySelector('#leads tbody tr:not([hidden])').cells[{column}].textContent"
        )
        assert int(first) == max(int(r["HOURS_SINCE_LAST_MESSAGE"]) for r in rows)
    assert (SCREENSHOTS / "report.png").stat().st_size > 10_000
