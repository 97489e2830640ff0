"""Charts of a report, computed in Python and drawn as inline SVG (no script, no CDN).

Which columns get a chart (`choose_charts`):

- the LLM answer's ``category`` fields (bars, in the schema's order), its
  ``integer``/``number`` fields (a histogram over the schema's bounds) and its
  ``boolean`` fields (one "share true" chart with the processors' flags);
- any other integer column whose name contains ``score`` (e.g. the score mode);
- the processors' text columns with at most `MAX_CATEGORIES` distinct values
  (conversation states, handoff responses, last sender…) and their boolean flags.

Every label is escaped; the output depends only on the data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

if TYPE_CHECKING:
    from common.recipe import Recipe

MAX_CATEGORIES = 12
"""A processor text column with more distinct values is not charted (names, texts, ids)."""
MAX_BARS = 15
"""Bars drawn per chart; the rest are summed into ``(other)``."""
HISTOGRAM_BINS = 10
EMPTY = "(empty)"
OTHER = "(other)"

ChartKind = Literal["bars", "histogram", "flags"]


@dataclass(frozen=True)
class ChartSpec:
    """One chart: which column(s), how drawn, under which heading."""

    kind: ChartKind
    columns: tuple[str, ...]
    group: str
    values: tuple[str, ...] = ()
    """Category order for bars (the schema's values); empty: by count."""
    bounds: tuple[float, float] | None = None
    """Histogram range from the schema; None: the data's range."""

    @property
    def title(self) -> str:
        """The chart's heading."""
        return "Share true" if self.kind == "flags" else self.columns[0]


@dataclass(frozen=True)
class Bar:
    """One bar: its label, count and (for filtering) the cell value it stands for."""

    label: str
    count: int
    value: str | None
    """The table cell text this bar filters on; None when it cannot filter (bins, other)."""
    total: int


_NUMERIC = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32, pl.UInt64)


def _is_integer(dtype: pl.DataType) -> bool:
    return isinstance(dtype, _NUMERIC)


def _is_number(dtype: pl.DataType) -> bool:
    return dtype.is_numeric()


def choose_charts(recipe: Recipe, frame: pl.DataFrame) -> list[ChartSpec]:
    """The charts worth drawing for this recipe's columns present in ``frame``."""
    specs: list[ChartSpec] = []
    flags: list[str] = []
    taken: set[str] = set()
    schema = recipe.llm.output_schema if recipe.llm is not None else {}
    for name, spec in schema.items():
        if name not in frame.columns:
            continue
        taken.add(name)
        if spec.type == "category":
            specs.append(ChartSpec("bars", (name,), "LLM answers", tuple(spec.values or ())))
        elif spec.type in ("integer", "number") and _is_number(frame.schema[name]):
            bounds = (
                (spec.minimum, spec.maximum)
                if spec.minimum is not None and spec.maximum is not None
                else None
            )
            specs.append(ChartSpec("histogram", (name,), "LLM answers", bounds=bounds))
        elif spec.type == "boolean":
            flags.append(name)
    for name, dtype in frame.schema.items():
        if name not in taken and "score" in name.lower() and _is_integer(dtype):
            taken.add(name)
            specs.append(ChartSpec("histogram", (name,), "LLM answers"))
    states: list[ChartSpec] = []
    for cls in recipe.processor_classes():
        for column in cls.columns:
            name = column.name
            if name in taken or name not in frame.columns:
                continue
            taken.add(name)
            dtype = frame.schema[name]
            if dtype == pl.Boolean:
                flags.append(name)
            elif dtype == pl.String and 0 < frame[name].drop_nulls().n_unique() <= MAX_CATEGORIES:
                states.append(ChartSpec("bars", (name,), "Conversation states"))
    # States and reasons first: they say where each lead stands.
    states.sort(key=lambda s: not any(w in s.columns[0].lower() for w in ("state", "reason")))
    specs.extend(states)
    if flags:
        specs.append(ChartSpec("flags", tuple(flags), "Flags"))
    return specs


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def category_bars(frame: pl.DataFrame, spec: ChartSpec) -> list[Bar]:
    """Counts per value: the schema's values first (zeros included), then by count."""
    column = spec.columns[0]
    total = frame.height
    counts: dict[str, int] = {}
    for value, n in frame.group_by(column).len().iter_rows():
        # Null and "" are both an empty cell: add them up (group order is arbitrary).
        text = _cell_text(value)
        counts[text] = counts.get(text, 0) + n
    empty = counts.pop("", 0)
    order = list(spec.values) + sorted(
        (v for v in counts if v not in spec.values), key=lambda v: (-counts[v], v)
    )
    bars = [Bar(v, counts.get(v, 0), v, total) for v in order]
    if len(bars) > MAX_BARS:
        rest = sum(b.count for b in bars[MAX_BARS - 1 :])
        bars = bars[: MAX_BARS - 1] + [Bar(OTHER, rest, None, total)]
    if empty:
        bars.append(Bar(EMPTY, empty, "", total))
    return bars


def histogram_bars(frame: pl.DataFrame, spec: ChartSpec) -> list[Bar]:
    """Equal-width bins over the schema's bounds (or the data's range); empty cells apart."""
    column = spec.columns[0]
    series = frame[column].cast(pl.Float64, strict=False)
    values = [v for v in series.to_list() if v is not None and math.isfinite(v)]
    total = frame.height
    if spec.bounds is not None:
        low, high = spec.bounds
    elif values:
        low, high = min(values), max(values)
    else:
        low, high = 0.0, 0.0
    integer = _is_integer(frame.schema[column])
    span = high - low
    bins = HISTOGRAM_BINS if span > 0 else 1
    if integer and span > 0:
        bins = min(HISTOGRAM_BINS, int(span) + 1)
    width = span / bins if span > 0 else 1.0
    counts = [0] * bins
    for v in values:
        index = int((v - low) / width) if span > 0 else 0
        counts[min(max(index, 0), bins - 1)] += 1
    bars = []
    for i, n in enumerate(counts):
        start = low + i * width
        end = low + (i + 1) * width
        if integer:
            first = math.ceil(start)
            last = high if i == bins - 1 else math.ceil(end) - 1
            label = f"{first:g}" if first >= last else f"{first:g}–{last:g}"
        else:
            label = f"{start:.3g}–{end:.3g}"
        bars.append(Bar(label, n, None, total))
    missing = total - len(values)
    if missing:
        bars.append(Bar(EMPTY, missing, "", total))
    return bars


def flag_bars(frame: pl.DataFrame, spec: ChartSpec) -> list[Bar]:
    """One bar per boolean column: how many rows are true."""
    total = frame.height
    return [Bar(c, int(frame[c].sum() or 0), "true", total) for c in spec.columns]


def bars_for(frame: pl.DataFrame, spec: ChartSpec) -> list[Bar]:
    """The bars of one chart."""
    if spec.kind == "bars":
        return category_bars(frame, spec)
    if spec.kind == "histogram":
        return histogram_bars(frame, spec)
    return flag_bars(frame, spec)


def _short(label: str, limit: int = 26) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def render_svg(spec: ChartSpec, bars: list[Bar]) -> str:
    """A horizontal bar chart as inline SVG; bars that stand for a cell value filter on click."""
    label_w, bar_w, row_h, pad = 190, 180, 22, 6
    width = label_w + bar_w + 100
    height = pad * 2 + row_h * max(len(bars), 1)
    peak = max((b.count for b in bars), default=0) or 1
    parts = [
        f'<svg class="chart" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(spec.title)}</title>",
    ]
    for i, bar in enumerate(bars):
        y = pad + i * row_h
        length = round(bar_w * bar.count / peak, 1)
        share = f"{100 * bar.count / bar.total:.1f}%" if bar.total else "0%"
        column = spec.columns[0] if spec.kind != "flags" else bar.label
        attrs = ""
        if bar.value is not None:
            attrs = (
                f' class="bar filterable" tabindex="0" role="button" '
                f'data-col="{escape(column)}" data-value="{escape(bar.value)}"'
            )
        else:
            attrs = ' class="bar"'
        parts.append(
            f"<g{attrs}><title>{escape(bar.label)}: {bar.count} ({share})</title>"
            f'<text class="label" x="{label_w - 8}" y="{y + 15}" text-anchor="end">'
            f"{escape(_short(bar.label))}</text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{length}" height="{row_h - 6}" rx="2"/>'
            f'<text class="count" x="{label_w + length + 6}" y="{y + 15}">'
            f"{bar.count} · {share}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


TREND_SERIES = ("stalled", "called", "reached", "recovered")
"""The recovery KPIs drawn across runs (`common/results/views/recovery_kpis.sql`)."""
_TREND_CLASSES = {"stalled": "s0", "called": "s1", "reached": "s2", "recovered": "s3"}


def render_trend_svg(points: Sequence[Mapping[str, Any]]) -> str:
    """The recovery KPIs of the recipe's runs (oldest first) as an inline SVG line chart.

    Args:
        points: One mapping per run with ``run_id``, ``run_started_at`` and the
            `TREND_SERIES` counts (a ``recovery_rate`` is shown in each run's tooltip).
    """
    width, height, left, right, top, bottom = 640, 220, 44, 110, 12, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max((int(p.get(s) or 0) for p in points for s in TREND_SERIES), default=0) or 1
    step = plot_w / max(len(points) - 1, 1)

    def xy(i: int, value: Any) -> tuple[float, float]:
        x = left + (i * step if len(points) > 1 else plot_w / 2)
        return round(x, 1), round(top + plot_h - plot_h * int(value or 0) / peak, 1)

    parts = [
        f'<svg class="chart trend" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">',
        "<title>Recovery across runs</title>",
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
        f'y2="{top + plot_h}"/>',
        f'<text class="count" x="{left - 6}" y="{top + 10}" text-anchor="end">{peak}</text>',
        f'<text class="count" x="{left - 6}" y="{top + plot_h}" text-anchor="end">0</text>',
    ]
    for n, series in enumerate(TREND_SERIES):
        css = _TREND_CLASSES[series]
        coords = [xy(i, p.get(series)) for i, p in enumerate(points)]
        path = " ".join(f"{x},{y}" for x, y in coords)
        parts.append(f'<g class="series {css}" data-series="{series}">')
        parts.append(f'<polyline points="{path}"/>')
        for (x, y), point in zip(coords, points, strict=True):
            rate = point.get("recovery_rate")
            tip = f"{point.get('run_id')}: {series} {int(point.get(series) or 0)}" + (
                f", recovery rate {100 * float(rate):.1f}%" if rate is not None else ""
            )
            parts.append(f'<circle cx="{x}" cy="{y}" r="3"><title>{escape(tip)}</title></circle>')
        legend_y = top + 14 + n * 18
        parts.append(
            f'<text class="legend" x="{left + plot_w + 12}" y="{legend_y}">{escape(series)}</text>'
        )
        parts.append("</g>")
    if points:
        first, last = points[0], points[-1]
        for i, point, anchor in ((0, first, "start"), (len(points) - 1, last, "end")):
            if i == 0 and len(points) == 1:
                anchor = "middle"
            x, _ = xy(i, 0)
            label = _short(str(point.get("run_started_at") or point.get("run_id"))[:16], 20)
            parts.append(
                f'<text class="count" x="{x}" y="{height - 8}" text-anchor="{anchor}">'
                f"{escape(label)}</text>"
            )
    parts.append("</svg>")
    return "".join(parts)
