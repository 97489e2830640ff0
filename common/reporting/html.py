"""The HTML report: one self-contained file per run, next to the CSVs (and ``latest.html``).

Inline CSS, inline SVG charts computed in Python and a small vanilla script
for sorting, filtering and searching the table: it works offline, from a
file, with no CDN. A Content-Security-Policy allows only that one script
(by hash) and nothing from the network.

The markup is in Jinja2 templates (``templates/report.html.j2`` and its
partials, with the stylesheet and the script beside them); this module
prepares what they show, as plain text, but for the table's ``<td>`` cells,
which `common.reporting.table` joins and escapes itself (the measured reason is there).
Autoescape escapes every value (lead
texts are user content) and the script only ever reads cells through
``textContent``: a lead who writes ``<script>`` sees it printed, not run. The
page is the same for the same input, except the "Generated" line.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from importlib.resources import files
from typing import Any
from urllib.parse import quote

import polars as pl
from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from common import layout
from common.reporting._base import ReportContext
from common.reporting.charts import (
    ChartSpec,
    bars_for,
    choose_charts,
    render_svg,
    render_trend_svg,
)
from common.reporting.table import PAGE_SIZE, lead_table
from common.reporting.urgency import Urgency, most_urgent, urgency

IGNORE = "ignore_reason"

_LLM_LABELS = {
    "conversations": "Conversations analysed",
    "cache_hits": "Cache hits",
    "llm_calls": "LLM calls",
    "repairs": "Repaired answers",
    "ignored": "Ignored by the LLM step",
    "input_tokens": "Input tokens",
    "output_tokens": "Output tokens",
    "reasons": "Ignored, by reason",
}


def _escape(value: Any) -> Markup:
    """Escape as `html.escape` does (``'`` is ``&#x27;``), so pages stay byte for byte what
    they were before the templates; markup (the SVG, the script) passes as it is."""
    if hasattr(value, "__html__"):
        return Markup(value)
    return Markup(escape(str(value)))


_TEMPLATES = Environment(
    loader=PackageLoader("common.reporting", "templates"),
    autoescape=True,
    finalize=_escape,
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)


def _asset(name: str) -> str:
    return (files("common.reporting") / "templates" / name).read_text(encoding="utf-8")


# The line break after <script> is part of the script's text, and of its hash.
_SCRIPT = "\n" + _asset("report.js")
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; "
    f"script-src 'sha256-{_SCRIPT_HASH}'; img-src data:; base-uri 'none'; form-action 'none'"
)
"""Only the report's own script runs; nothing is fetched from anywhere."""


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "—"
    if seconds < 90:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes < 90 else f"{minutes // 60} h {minutes % 60} min"


def _when(value: Any) -> str:
    """An ISO time to the second, in UTC (``2026-11-20 18:00:00 UTC``)."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M:%S")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _summary(
    run: Mapping[str, Any], analysis: pl.DataFrame, ignored: pl.DataFrame
) -> dict[str, Any]:
    """The summary's cards and tables (``_summary.html.j2``), as plain text."""
    status = str(run.get("status", "succeeded"))
    cards = [  # (class, key, value)
        (f"card status-{status}", "Status", status),
        ("card", "Leads in report", _number(analysis.height)),
        ("card", "Ignored", _number(ignored.height)),
        ("card", "Run time", _duration(run.get("seconds"))),
    ]
    failed = run.get("failed_shards") or []
    if failed:
        cards.append(("card", "Failed shards", ", ".join(str(s) for s in failed)))
    for key, label in (("as_of", "As of"), ("started_at", "Started"), ("finished_at", "Finished")):
        if run.get(key):
            cards.append(("card small", label, _when(run[key])))
    reasons: list[tuple[str, str]] = []
    if ignored.height and IGNORE in ignored.columns:
        counts = ignored.group_by(IGNORE).len().sort(["len", IGNORE], descending=[True, False])
        reasons = [(str(reason or "(no reason)"), _number(n)) for reason, n in counts.iter_rows()]
    llm = run.get("llm") or {}
    figures: list[tuple[str, str, bool]] = []
    for key, value in llm.items():
        label = _LLM_LABELS.get(key, key.replace("_", " ").capitalize())
        if isinstance(value, Mapping):
            inner = "; ".join(f"{k}: {_number(v)}" for k, v in value.items())
            figures.append((label, inner or "—", False))
        else:
            extra = ""
            if key == "cache_hits" and llm.get("conversations"):
                extra = f" ({100 * value / llm['conversations']:.0f}%)"
            figures.append((label, f"{_number(value)}{extra}", True))
    metrics: list[tuple[str, str]] = []
    if run.get("metrics"):
        from common.observability.metrics import metrics_rows

        metrics = [(str(k), str(v)) for k, v in metrics_rows(run["metrics"])]
    return {"cards": cards, "reasons": reasons, "llm": figures, "metrics": metrics}


def _topics(run: Mapping[str, Any]) -> dict[str, Any] | None:
    """Guided topic sizes, their change since the previous run and the new themes
    (``run["clustering"]["topics"]``, from the cluster step); None: no topics."""
    clustering = run.get("clustering")
    topics = clustering.get("topics") if isinstance(clustering, Mapping) else None
    if not isinstance(topics, Mapping) or "sizes" not in topics:
        return None
    change = topics.get("change") or {}

    def since(value: Any) -> str:
        return "—" if value is None else f"{int(value):+d}"

    entries = [(name, size, change.get(name)) for name, size in topics["sizes"].items()]
    entries.append(
        ("New themes (no topic)", topics.get("new_themes", 0), topics.get("new_themes_change"))
    )
    previous = topics.get("previous_run")
    return {
        "rows": [(str(name), _number(size), since(delta)) for name, size, delta in entries],
        "previous": str(previous) if previous else None,
        "clusters": [
            (
                str(c.get("label", "")),
                str(c.get("name", "")),
                _number(c.get("size")),
                _number(c.get("of")),
            )
            for c in topics.get("new_theme_clusters") or []
        ],
    }


def _trend(run: Mapping[str, Any]) -> dict[str, Any] | None:
    """The recipe's recovery KPIs across runs (``run["recovery_trend"]``, from the results tables)."""
    points = run.get("recovery_trend") or []
    if not points:
        return None
    last = points[-1]
    rate = last.get("recovery_rate")
    caption = (
        f"{len(points)} run(s); this run: {int(last.get('recovered') or 0)} recovered of "
        f"{int(last.get('leads') or 0)} leads"
        + (f" ({100 * float(rate):.1f}%)" if rate is not None else "")
    )
    return {"svg": Markup(render_trend_svg(points)), "caption": caption}


def _charts(
    charts: Sequence[ChartSpec], analysis: pl.DataFrame
) -> list[tuple[str, list[tuple[str, Markup]]]]:
    """Each group's charts as ``(title, svg)``, groups in the order of their first chart."""
    if not charts or analysis.height == 0:
        return []
    groups: dict[str, list[tuple[str, Markup]]] = {}
    for spec in charts:
        svg = Markup(render_svg(spec, bars_for(analysis, spec)))
        groups.setdefault(spec.group, []).append((spec.title, svg))
    return list(groups.items())


def _filter_columns(charts: Sequence[ChartSpec], analysis: pl.DataFrame) -> list[str]:
    names: list[str] = []
    for spec in charts:
        if spec.kind == "histogram":
            continue
        names.extend(c for c in spec.columns if c not in names)
    return [n for n in names if n in analysis.columns]


OUTPUT_LINK = '<a data-output href="'
"""How every link to a run's output starts (``_macros.html.j2``; user text is escaped,
so it never holds this)."""


def relocate_links(page: bytes, folder: str) -> bytes:
    """The page as seen from one folder up (``latest.html``): output links gain ``folder/``."""
    prefix = OUTPUT_LINK.encode()
    return page.replace(prefix, prefix + escape(quote(folder)).encode() + b"/")


def render_report(
    *,
    title: str,
    description: str,
    run: Mapping[str, Any],
    analysis: pl.DataFrame,
    ignored: pl.DataFrame,
    charts: Sequence[ChartSpec],
    links: Mapping[str, str],
    generated_at: datetime,
    max_rows: int | None = None,
    order: Urgency | None = None,
    full_csv: str | None = None,
) -> str:
    """The report page.

    The summary and the charts count every row of ``analysis``; the table embeds
    at most ``max_rows`` of them, the first by ``order``, and says so.

    Args:
        title: The recipe's name.
        description: The recipe's description.
        run: The run document with the report's summary (status, seconds, llm…).
        analysis: The analysis rows (the table).
        ignored: The ignored leads (counted by reason).
        charts: What to chart (`choose_charts`).
        links: Label → relative link (the CSVs next to the page).
        generated_at: Shown on the one line that differs between two renders.
        max_rows: Rows embedded in the table (None: all).
        order: Which rows come first (None: the frame's order).
        full_csv: Relative link to the CSV holding every row (named on the page
            when the table holds fewer).

    Returns:
        A complete HTML document (UTF-8 text).
    """
    order = order or Urgency(None)
    limit = analysis.height if max_rows is None else max_rows
    shown_rows = most_urgent(analysis, order, limit)
    filters = _filter_columns(charts, analysis)
    return _TEMPLATES.get_template("report.html.j2").render(
        csp=Markup(CSP),
        script=Markup(_SCRIPT),
        page_size=PAGE_SIZE,
        title=title,
        description=description,
        run_id=str(run.get("run_id", "")),
        generated=generated_at.isoformat(timespec="seconds"),
        summary=_summary(run, analysis, ignored),
        topics=_topics(run),
        links=[(quote(href), label) for label, href in links.items()],
        trend=_trend(run),
        chart_groups=_charts(charts, analysis),
        table=lead_table(analysis, shown_rows, filters, order, full_csv),
    )


class HtmlReportSink:
    """Writes ``<folder>/report.html`` next to the CSVs (``latest.html`` is its promoted copy)."""

    name = "html"

    def publish(self, context: ReportContext) -> dict[str, Any]:
        """Render and store the run's page; add ``outputs["html"]``.

        ``latest.html`` is written later, by `common.reporting.latest.promote`, only
        when no newer run of the recipe is there: it is this page with its links
        moved one folder up (`relocate_links`).

        Raises:
            TransientError: the blob store refused the write (like the CSVs, this fails
                the report step so it is retried).
        """
        recipe = context.recipe
        charts = choose_charts(recipe, context.analysis)
        page = render_report(
            title=recipe.name,
            description=recipe.meta.description,
            run=context.run,
            analysis=context.analysis,
            ignored=context.ignored,
            charts=charts,
            links={"Analysis CSV": f"{recipe.name}_analysis.csv", "Ignored CSV": "ignored.csv"},
            generated_at=context.now,
            max_rows=recipe.meta.report.html_max_rows,
            order=urgency(recipe, context.analysis),
            full_csv=f"{recipe.name}_analysis.csv",
        ).encode("utf-8")
        key = layout.output_key(recipe.name, context.stamp, "report.html")
        context.blobs.put_bytes(key, page, "text/html; charset=utf-8")
        url = context.blobs.url(key)
        context.outputs["html"] = url
        return {
            "status": "ok",
            "url": url,
            "charts": [spec.title for spec in charts],
            "bytes": len(page),
        }
