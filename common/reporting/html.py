"""The HTML report: one self-contained file per run, next to the CSVs (and ``latest.html``).

Inline CSS, inline SVG charts computed in Python and a small vanilla script
for sorting, filtering and searching the table: it works offline, from a
file, with no CDN. A Content-Security-Policy allows only that one script
(by hash) and nothing from the network.

Every piece of data (lead texts are user content) is HTML-escaped, and the
script only ever reads cells through ``textContent``: a lead who writes
``<script>`` sees it printed, not run. The page is the same for the same
input, except the "Generated" line.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import polars as pl

from common import layout
from common.reporting.charts import ChartSpec, bars_for, choose_charts, render_svg
from common.reporting.sinks import ReportContext

if TYPE_CHECKING:
    from common.recipe import Recipe

DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.f%:z"
"""Same as the CSVs, so a cell reads the same in both."""
MAX_FILTER_OPTIONS = 40
PAGE_SIZE = 500
"""Rows drawn at once (the rest of the matches behind "Show all"): a browser lays out
500 rows in a blink, 10,000 in seconds."""
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

_CSS = """
:root{--ink:#1d2430;--muted:#5b6675;--line:#dde3ea;--bg:#f6f8fa;--accent:#2f6fde;--bar:#5b8def}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Liberation Sans",sans-serif;color:var(--ink);background:#fff}
header,main{padding:0 24px}
header{padding-top:18px;border-bottom:1px solid var(--line);background:var(--bg)}
h1{font-size:22px;margin:0 0 4px}
h2{font-size:17px;margin:26px 0 10px}
h3{font-size:13px;margin:0 0 6px;color:var(--muted);font-weight:600}
.description{color:var(--muted);margin:0 0 10px;max-width:90ch}
.generated{color:var(--muted);font-size:12px;margin:0 0 12px}
.cards{display:flex;flex-wrap:wrap;gap:10px;margin:10px 0 16px}
.card{border:1px solid var(--line);border-radius:8px;background:#fff;padding:8px 12px;min-width:130px}
.card .k{color:var(--muted);font-size:12px}.card .v{font-size:18px;font-weight:600}
.card.small .v{font-size:13px;font-weight:500}
.status-succeeded .v{color:#1a7f37}.status-partial .v{color:#b35900}
table.kv{border-collapse:collapse;margin:4px 0 8px}
table.kv td{padding:2px 14px 2px 0;vertical-align:top}
table.kv td.n{text-align:right;font-variant-numeric:tabular-nums}
.charts{display:flex;flex-wrap:wrap;gap:14px}
.chart-card{border:1px solid var(--line);border-radius:8px;padding:10px 12px;background:#fff;margin:0}
svg.chart text{font:12px system-ui,sans-serif;fill:var(--ink)}
svg.chart text.count{fill:var(--muted)}
svg.chart rect{fill:var(--bar)}
svg.chart .filterable{cursor:pointer}
svg.trend polyline{fill:none;stroke-width:2}svg.trend .axis{stroke:var(--line)}
svg.trend .s0{stroke:#8a94a6;fill:#8a94a6}svg.trend .s1{stroke:#2f6fde;fill:#2f6fde}
svg.trend .s2{stroke:#d98b1e;fill:#d98b1e}svg.trend .s3{stroke:#1f9d55;fill:#1f9d55}
svg.chart .filterable:hover rect,svg.chart .filterable:focus rect{fill:var(--accent)}
.tools{position:sticky;top:0;z-index:2;background:#fff;padding:10px 0;border-bottom:1px solid var(--line);display:flex;flex-wrap:wrap;gap:8px;align-items:center}
.tools input[type=search]{font:inherit;padding:6px 10px;border:1px solid #b8c2cc;border-radius:6px;min-width:280px}
.tools label{font-size:12px;color:var(--muted);display:flex;flex-direction:column}
.tools select{font:inherit;font-size:12px;max-width:190px}
.tools button{font:inherit;padding:5px 10px;border:1px solid #b8c2cc;border-radius:6px;background:var(--bg);cursor:pointer}
.count-line{font-weight:600;margin-left:auto}
.table-wrap{overflow:auto;max-height:80vh;border:1px solid var(--line);border-radius:6px;margin:8px 0 30px}
table.leads{border-collapse:collapse;font-size:12.5px;width:max-content}
table.leads th{position:sticky;top:0;background:var(--bg);border-bottom:1px solid var(--line);text-align:left;white-space:nowrap;padding:0}
table.leads th button{all:unset;cursor:pointer;display:block;padding:6px 18px 6px 8px;font-weight:600}
table.leads th[aria-sort=ascending] button::after{content:" ▲";font-size:10px}
table.leads th[aria-sort=descending] button::after{content:" ▼";font-size:10px}
table.leads td{border-bottom:1px solid #eef1f4;padding:4px 8px;max-width:34ch;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;vertical-align:top}
table.leads td.num{text-align:right;font-variant-numeric:tabular-nums}
table.leads td.open{white-space:normal;overflow:visible;max-width:60ch}
table.leads tbody tr:hover{background:#f3f7ff}
.links a{margin-right:14px}
.table-note{color:var(--muted);margin:0 0 4px}
"""

_SCRIPT = """
(function () {
  "use strict";
  var table = document.getElementById("leads");
  var tbody = table.tBodies[0];
  var rows = Array.prototype.slice.call(tbody.rows);
  var heads = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var search = document.getElementById("search");
  var matches = document.getElementById("matches");
  var shown = document.getElementById("shown");
  var more = document.getElementById("more");
  var page = Number(table.dataset.page) || 500;
  var limit = page;
  var selects = Array.prototype.slice.call(document.querySelectorAll("select[data-col]"));
  function norm(s) { return s.normalize("NFD").replace(/[\\u0300-\\u036f]/g, "").toLowerCase(); }
  rows.forEach(function (r) {
    r._text = norm(Array.prototype.map.call(r.cells, function (c) { return c.textContent; }).join("\\u0001"));
  });
  function apply() {
    var terms = norm(search.value).split(/\\s+/).filter(Boolean);
    var active = selects.filter(function (s) { return s.selectedIndex > 0; })
      .map(function (s) { return [Number(s.dataset.index), s.value]; });
    var n = 0;
    rows.forEach(function (r) {
      var ok = terms.every(function (t) { return r._text.indexOf(t) !== -1; }) &&
        active.every(function (f) { return r.cells[f[0]].textContent === f[1]; });
      if (ok) { n += 1; }
      var hide = !ok || n > limit;
      if (r.hidden !== hide) { r.hidden = hide; }
    });
    matches.textContent = String(n);
    shown.textContent = String(Math.min(n, limit));
    more.hidden = n <= limit;
  }
  more.addEventListener("click", function () { limit = Infinity; apply(); });
  search.addEventListener("input", apply);
  selects.forEach(function (s) { s.addEventListener("change", apply); });
  document.getElementById("reset").addEventListener("click", function () {
    search.value = "";
    selects.forEach(function (s) { s.selectedIndex = 0; });
    apply();
  });
  heads.forEach(function (th, index) {
    th.querySelector("button").addEventListener("click", function () {
      var descending = th.getAttribute("aria-sort") === "ascending";
      var numeric = th.dataset.type === "num";
      heads.forEach(function (h) { h.setAttribute("aria-sort", "none"); });
      th.setAttribute("aria-sort", descending ? "descending" : "ascending");
      var keyed = rows.map(function (r, i) {
        var t = r.cells[index].textContent;
        var v = numeric ? (t === "" ? NaN : Number(t)) : t.toLowerCase();
        return { r: r, v: v, i: i, empty: t === "" };
      });
      keyed.sort(function (a, b) {
        if (a.empty !== b.empty) { return a.empty ? 1 : -1; }
        var c = numeric ? a.v - b.v : (a.v < b.v ? -1 : a.v > b.v ? 1 : 0);
        if (descending) { c = -c; }
        return c || a.i - b.i;
      });
      rows = keyed.map(function (k) { return k.r; });
      var frag = document.createDocumentFragment();
      rows.forEach(function (r) { frag.appendChild(r); });
      tbody.appendChild(frag);
      apply();
    });
  });
  tbody.addEventListener("click", function (e) {
    var cell = e.target.closest("td");
    if (cell) { cell.classList.toggle("open"); }
  });
  function filterFromChart(g) {
    var select = selects.filter(function (s) { return s.dataset.col === g.dataset.col; })[0];
    if (!select) { return; }
    for (var i = 1; i < select.options.length; i += 1) {
      if (select.options[i].value === g.dataset.value) { select.selectedIndex = i; }
    }
    apply();
    table.scrollIntoView({ block: "start" });
  }
  Array.prototype.forEach.call(document.querySelectorAll(".filterable"), function (g) {
    g.addEventListener("click", function () { filterFromChart(g); });
    g.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); filterFromChart(g); }
    });
  });
  apply();
  document.body.setAttribute("data-ready", "1");
})();
"""

_SCRIPT_HASH = base64.b64encode(hashlib.sha256(_SCRIPT.encode()).digest()).decode()
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; "
    f"script-src 'sha256-{_SCRIPT_HASH}'; img-src data:; base-uri 'none'; form-action 'none'"
)
"""Only the report's own script runs; nothing is fetched from anywhere."""


LAST_USER_HOURS = "HOURS_SINCE_LAST_USER_MESSAGE"
LAST_MESSAGE_HOURS = "HOURS_SINCE_LAST_MESSAGE"


@dataclass(frozen=True)
class Urgency:
    """The order that puts the leads to call first at the top (docs/reports.md)."""

    column: str | None
    """None: the analysis CSV's order (by lead key)."""
    descending: bool = False

    @property
    def rule(self) -> str:
        """The order in words, for the page."""
        if self.column is None:
            return "in the analysis CSV's order"
        if self.descending:
            return f"the most urgent first: highest {self.column} first"
        return f"the most urgent first: lowest {self.column} first"


def urgency(recipe: Recipe, frame: pl.DataFrame) -> Urgency:
    """Which leads to call first, from the columns the report has.

    1. A score, highest first: the LLM answer's first ``integer``/``number`` field
       whose name contains ``score``, else the first numeric column whose name does
       (``lead_score`` of the score mode).
    2. Else hours since the lead's last message, lowest first: the lead who wrote
       most recently is the warmest (``HOURS_SINCE_LAST_USER_MESSAGE``, else
       ``HOURS_SINCE_LAST_MESSAGE``).
    3. Else the CSV's order.
    """
    numeric = [c for c, t in frame.schema.items() if t.is_numeric()]
    schema = recipe.llm.output_schema if recipe.llm is not None else {}
    fields = [n for n, spec in schema.items() if spec.type in ("integer", "number")]
    for name in [*fields, *numeric]:
        if name in numeric and "score" in name.lower():
            return Urgency(name, descending=True)
    for name in (LAST_USER_HOURS, LAST_MESSAGE_HOURS):
        if name in numeric:
            return Urgency(name)
    return Urgency(None)


def most_urgent(frame: pl.DataFrame, order: Urgency, limit: int) -> pl.DataFrame:
    """The first ``limit`` rows of ``frame`` by ``order`` (empty values last; ties by the
    hours since the last user message, then in the frame's order)."""
    if order.column is None:
        return frame.head(limit)
    by, descending = [order.column], [order.descending]
    if order.column != LAST_USER_HOURS and LAST_USER_HOURS in frame.columns:
        by.append(LAST_USER_HOURS)
        descending.append(False)
    return frame.sort(by, descending=descending, nulls_last=True, maintain_order=True).head(limit)


def cell_rows(frame: pl.DataFrame) -> list[list[str]]:
    """The frame's cells as the CSV writes them (same timestamps, ``true``/``false``, nulls empty)."""
    if frame.width == 0:
        return []
    buffer = io.BytesIO()
    frame.write_csv(buffer, datetime_format=DATETIME_FORMAT, include_header=False)
    return list(csv.reader(io.StringIO(buffer.getvalue().decode("utf-8"))))


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".")
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))


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


def _card(key: str, value: str, css: str = "") -> str:
    cls = f"card {css}".strip()
    return (
        f'<div class="{cls}"><div class="k">{escape(key)}</div><div class="v">{value}</div></div>'
    )


def _summary(run: Mapping[str, Any], analysis: pl.DataFrame, ignored: pl.DataFrame) -> str:
    status = str(run.get("status", "succeeded"))
    cards = [
        _card("Status", escape(status), f"status-{escape(status)}"),
        _card("Leads in report", _number(analysis.height)),
        _card("Ignored", _number(ignored.height)),
        _card("Run time", escape(_duration(run.get("seconds")))),
    ]
    failed = run.get("failed_shards") or []
    if failed:
        cards.append(_card("Failed shards", escape(", ".join(str(s) for s in failed))))
    for key, label in (("as_of", "As of"), ("started_at", "Started"), ("finished_at", "Finished")):
        if run.get(key):
            cards.append(_card(label, escape(_when(run[key])), "small"))
    parts = [f'<div class="cards">{"".join(cards)}</div>']
    if ignored.height and IGNORE in ignored.columns:
        counts = ignored.group_by(IGNORE).len().sort(["len", IGNORE], descending=[True, False])
        body = "".join(
            f'<tr><td>{escape(str(reason or "(no reason)"))}</td><td class="n">{_number(n)}</td></tr>'
            for reason, n in counts.iter_rows()
        )
        parts.append(f'<h3>Ignored leads, by reason</h3><table class="kv">{body}</table>')
    llm = run.get("llm") or {}
    if llm:
        rows = []
        for key, value in llm.items():
            label = escape(_LLM_LABELS.get(key, key.replace("_", " ").capitalize()))
            if isinstance(value, Mapping):
                inner = "; ".join(f"{escape(str(k))}: {_number(v)}" for k, v in value.items())
                rows.append(f"<tr><td>{label}</td><td>{inner or '—'}</td></tr>")
            else:
                extra = ""
                if key == "cache_hits" and llm.get("conversations"):
                    extra = f" ({100 * value / llm['conversations']:.0f}%)"
                rows.append(f'<tr><td>{label}</td><td class="n">{_number(value)}{extra}</td></tr>')
        parts.append(f'<h3>LLM</h3><table class="kv">{"".join(rows)}</table>')
    parts.append(_topics(run))
    if run.get("metrics"):
        from common.observability.metrics import metrics_rows

        body = "".join(
            f"<tr><td>{escape(str(k))}</td><td>{escape(str(v))}</td></tr>"
            for k, v in metrics_rows(run["metrics"])
        )
        parts.append(f'<h3>Run metrics</h3><table class="kv">{body}</table>')
    return "".join(parts)


def _topics(run: Mapping[str, Any]) -> str:
    """Guided topic sizes, their change since the previous run and the new themes
    (``run["clustering"]["topics"]``, from the cluster step)."""
    clustering = run.get("clustering")
    topics = clustering.get("topics") if isinstance(clustering, Mapping) else None
    if not isinstance(topics, Mapping) or "sizes" not in topics:
        return ""
    change = topics.get("change") or {}

    def since(value: Any) -> str:
        return "—" if value is None else f"{int(value):+d}"

    entries = [(name, size, change.get(name)) for name, size in topics["sizes"].items()]
    entries.append(
        ("New themes (no topic)", topics.get("new_themes", 0), topics.get("new_themes_change"))
    )
    body = "".join(
        f'<tr><td>{escape(str(name))}</td><td class="n">{_number(size)}</td>'
        f'<td class="n">{since(delta)}</td></tr>'
        for name, size, delta in entries
    )
    previous = topics.get("previous_run")
    caption = (
        f"Change since run <code>{escape(str(previous))}</code>"
        if previous
        else "First run: no change"
    )
    parts = [
        "<h3>Guided topics</h3>",
        f'<table class="kv"><tr><th>Topic</th><th>Texts</th><th>Change</th></tr>{body}</table>',
        f"<p>{caption}</p>",
    ]
    found = topics.get("new_theme_clusters") or []
    if found:
        rows = "".join(
            f"<tr><td><code>{escape(str(c.get('label', '')))}</code></td>"
            f"<td>{escape(str(c.get('name', '')))}</td>"
            f'<td class="n">{_number(c.get("size"))}</td><td class="n">{_number(c.get("of"))}</td></tr>'
            for c in found
        )
        parts.append(
            "<h3>New themes: the clusters with the most texts no topic describes</h3>"
            '<table class="kv"><tr><th>Cluster</th><th>Name</th><th>Without topic</th>'
            f"<th>Cluster size</th></tr>{rows}</table>"
        )
    return "".join(parts)


def _trend(run: Mapping[str, Any]) -> str:
    """The recipe's recovery KPIs across runs (``run["recovery_trend"]``, from the results tables)."""
    points = run.get("recovery_trend") or []
    if not points:
        return ""
    from common.reporting.charts import render_trend_svg

    last = points[-1]
    rate = last.get("recovery_rate")
    caption = (
        f"{len(points)} run(s); this run: {int(last.get('recovered') or 0)} recovered of "
        f"{int(last.get('leads') or 0)} leads"
        + (f" ({100 * float(rate):.1f}%)" if rate is not None else "")
    )
    return (
        '<h2>Recovery across runs</h2><figure class="chart-card">'
        f"{render_trend_svg(points)}<figcaption>{escape(caption)}</figcaption></figure>"
    )


def _charts(charts: Sequence[ChartSpec], analysis: pl.DataFrame) -> str:
    if not charts or analysis.height == 0:
        return ""
    groups: dict[str, list[str]] = {}
    for spec in charts:
        svg = render_svg(spec, bars_for(analysis, spec))
        groups.setdefault(spec.group, []).append(
            f'<figure class="chart-card"><h3>{escape(spec.title)}</h3>{svg}</figure>'
        )
    return "".join(
        f'<h2>{escape(group)}</h2><div class="charts">{"".join(cards)}</div>'
        for group, cards in groups.items()
    )


def _filter_columns(charts: Sequence[ChartSpec], analysis: pl.DataFrame) -> list[str]:
    names: list[str] = []
    for spec in charts:
        if spec.kind == "histogram":
            continue
        names.extend(c for c in spec.columns if c not in names)
    return [n for n in names if n in analysis.columns]


def _table(
    analysis: pl.DataFrame,
    shown_rows: pl.DataFrame,
    filters: Sequence[str],
    order: Urgency,
    full_csv: str | None,
) -> str:
    """The table of ``shown_rows``, with filters offering the values of every row."""
    columns = analysis.columns
    cells = cell_rows(shown_rows)
    numeric = {c for c, t in analysis.schema.items() if t.is_numeric()}
    index = {c: i for i, c in enumerate(columns)}
    selects = []
    for name in filters:
        i = index[name]
        # Values of every lead, not only the embedded ones: a chart bar filters on any.
        distinct = analysis.select(name).unique()
        if distinct.height > MAX_FILTER_OPTIONS:
            continue
        values = sorted({row[0] if row else "" for row in cell_rows(distinct)})  # null: no field
        options = "".join(
            f'<option value="{escape(v)}">{escape(v) if v else "(empty)"}</option>' for v in values
        )
        selects.append(
            f"<label>{escape(name)}"
            f'<select data-col="{escape(name)}" data-index="{i}">'
            f"<option>all</option>{options}</select></label>"
        )
    total = len(cells)
    shown = min(total, PAGE_SIZE)
    where = (
        f" Every lead is in the {_output_link(full_csv, 'analysis CSV')}."
        if full_csv and total < analysis.height
        else ""
    )
    note = (
        f'<p class="table-note" id="table-note"><span id="embedded">{total:,}</span> of '
        f'<span id="all-leads">{analysis.height:,}</span> leads shown, '
        f"{escape(order.rule)}.{where}</p>"
    )
    tools = (
        '<div class="tools">'
        '<input type="search" id="search" placeholder="Search every column…" '
        'aria-label="Search the leads" autocomplete="off">'
        f'{"".join(selects)}<button type="button" id="reset">Clear filters</button>'
        f'<span class="count-line"><span id="matches">{total}</span> of '
        f'<span id="total">{total}</span> leads match · showing <span id="shown">{shown}</span>'
        f' <button type="button" id="more"{"" if total > shown else " hidden"}>Show all</button>'
        "</span></div>"
    )
    sorted_by = {order.column: "descending" if order.descending else "ascending"}
    head = "".join(
        f'<th data-type="{"num" if c in numeric else "text"}" '
        f'aria-sort="{sorted_by.get(c, "none")}">'
        f'<button type="button">{escape(c)}</button></th>'
        for c in columns
    )
    num_cols = [c in numeric for c in columns]
    body = "\n".join(
        ("<tr>" if r < PAGE_SIZE else "<tr hidden>")
        + "".join(
            f'<td class="num">{escape(v)}</td>' if num_cols[i] else f"<td>{escape(v)}</td>"
            for i, v in enumerate(row)
        )
        + "</tr>"
        for r, row in enumerate(cells)
    )
    return (
        f'{note}{tools}<div class="table-wrap"><table class="leads" id="leads" data-page="{PAGE_SIZE}">'
        f"<thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table></div>"
    )


_OUTPUT_LINK = '<a data-output href="'
"""How every link to a run's output starts (user text is escaped, so it never holds this)."""


def _output_link(href: str, label: str) -> str:
    """A link to an output beside the page (``href`` relative to the page's folder)."""
    return f'{_OUTPUT_LINK}{escape(quote(href))}">{escape(label)}</a>'


def relocate_links(page: bytes, folder: str) -> bytes:
    """The page as seen from one folder up (``latest.html``): output links gain ``folder/``."""
    prefix = _OUTPUT_LINK.encode()
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
    link_html = "".join(_output_link(href, label) for label, href in links.items())
    run_id = str(run.get("run_id", ""))
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)} — {escape(run_id)}</title>"
        f"<style>{_CSS}</style></head>\n<body>"
        f"<header><h1>{escape(title)}</h1>"
        f'<p class="description">{escape(description)}</p>'
        f'<p class="generated">Run <code>{escape(run_id)}</code> · '
        f"Generated {escape(generated_at.isoformat(timespec='seconds'))}</p></header>\n"
        f"<main><h2>Run summary</h2>{_summary(run, analysis, ignored)}"
        f'<p class="links">{link_html}</p>'
        f"{_trend(run)}"
        f"{_charts(charts, analysis)}"
        f"<h2>Leads</h2>{_table(analysis, shown_rows, filters, order, full_csv)}</main>\n"
        f"<script>{_SCRIPT}</script></body></html>\n"
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
