"""
A report's chart as SVG, drawn on the server from the rows read: no script, no CDN.

    svg = render_chart(spec.chart, spec.columns, rows)   # rows: tuples in column order
    svg           # SafeString: <svg role="img">…</svg>, every text from the data escaped
    svg.caption   # "Revenue by Day, one line per SKU: 42 rows."

The rows' values are plotted by value: numbers, Decimals, and numeric text for y;
numbers, dates and datetimes for x on a line chart (others are categories, evenly
spaced, as every x of a bar chart is). Rows with the same x and series are added up.
Lines and bars take the colours of PALETTE, text and axes the page's text colour
(currentColor), so the admin's dark mode holds; each part has a class to restyle.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import math
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from django.utils import dateformat, timezone
from django.utils.html import escape
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from .definitions.spec import ChartSpec, ChartType

WIDTH, HEIGHT = 720, 360
CHAR = 7.5  # about the width of a character at FONT_SIZE, in the viewBox's units
FONT_SIZE = 12
MAX_SERIES = 10  # the largest by their total are drawn; the others are counted
LABEL_CHARS = 24  # a legend entry or tick label is cut here (whole in its tooltip)
MARKERS_UP_TO = 60  # points of a line get a dot while there are this few x values
# Ten colours told apart on light and dark backgrounds (Tableau 10).
PALETTE = (
    "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
)  # fmt: skip
# 25k, 1.5M, 2B on the y axis (thousands from 10,000).
UNITS = ((1e9, "B"), (1e6, "M"), (1e3, "k"))
# Characters XML 1.0 does not allow, and lone surrogates.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class Column(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def label(self) -> str: ...


class ChartSVG(SafeString):
    """SVG markup, safe to put in a page, with the caption of its figure."""

    caption: str = ""


@dataclass
class _Data:
    """The points: x values in order, y by series label and x (None: a gap)."""

    xs: list[Any]
    series: dict[str, dict[Any, float | None]] = field(default_factory=dict)
    kind: str = "category"  # of x, see _kind()
    rows: int = 0
    left_out: int = 0  # series not drawn
    # Labels of y columns whose rows share a point but do not add up: not drawn.
    not_added: dict[str, None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what is not drawn, for the caption


def render_chart(
    chart: ChartSpec,
    columns: Sequence[Column],
    rows: Iterable[Sequence[Any]],
    *,
    every_column: Sequence[Column] = (),
) -> ChartSVG:
    """The chart of `rows` (values in the order of `columns`), or a message in its place.

    `every_column`: the report's columns, chosen or not, for the labels of those a run
    leaves out; a y column left out is not drawn, an x or series left out draws nothing.
    """
    labels = {column.name: column.label for column in (*every_column, *columns)}
    chosen = [column.name for column in columns]
    needed = [name for name in (chart.x, chart.series) if name and name not in chosen]
    drawn = [name for name in chart.y if name in chosen]
    if needed or not drawn:
        missing = needed or list(chart.y)
        text = ngettext(
            "The chart needs the column %(names)s.",
            "The chart needs the columns %(names)s.",
            len(missing),
        ) % {"names": ", ".join(labels.get(name, name) for name in missing)}
        return _message(_title(chart, chart.y, labels), text)
    notes = [
        _("%(y)s is not drawn: its column is left out.") % {"y": labels.get(name, name)}
        for name in chart.y
        if name not in chosen
    ]
    chart = _drawing_only(chart, drawn)
    data = _collect(chart, chosen, labels, rows)
    not_added = [_not_added(chart, labels, label) for label in data.not_added]
    if len(not_added) == len(chart.y):  # nothing left to draw
        return _message(_title(chart, chart.y, labels), " ".join(not_added))
    notes += not_added
    if data.not_added:
        kept = [name for name in chart.y if labels[name] not in data.not_added]
        chart = _drawing_only(chart, kept)
        data.series = {key: p for key, p in data.series.items() if key not in data.not_added}
    data.notes = notes
    title = _title(chart, chart.y, labels)
    if not data.xs:
        return _message(title, _("No rows to draw."))
    return _Drawing(chart, title, labels, data).svg()


def _title(chart: ChartSpec, y: Sequence[str], labels: dict[str, str]) -> str:
    return chart.title or _("%(y)s by %(x)s") % {
        "y": ", ".join(labels.get(name, name) for name in y),
        "x": labels.get(chart.x, chart.x),
    }


def _drawing_only(chart: ChartSpec, y: list[str]) -> ChartSpec:
    """The chart with only the y columns `y` (in its order)."""
    combine = dict(zip(chart.y, chart.combines, strict=True))
    return dataclasses.replace(
        chart, y=tuple(y), y_combine=tuple(combine[name] for name in y), y_marks=()
    )


def _collect(chart: ChartSpec, names: list[str], labels, rows) -> _Data:
    x_at, series_at = names.index(chart.x), names.index(chart.series) if chart.series else None
    y_at = [
        (labels[name], names.index(name), how)
        for name, how in zip(chart.y, chart.combines, strict=True)
    ]
    data = _Data(xs=[])
    seen: dict[Any, None] = {}
    for row in rows:
        data.rows += 1
        x = row[x_at]
        if x is None or x != x:  # NULL, NaN: nowhere on the axis
            continue
        seen.setdefault(x, None)
        for label, index, how in y_at:
            key = _text(row[series_at]) if series_at is not None else label
            points = data.series.setdefault(key, {})
            value = _number(row[index])
            if x not in points:
                points[x] = value
            elif how is None:  # an average of averages would be drawn as if true
                data.not_added.setdefault(label, None)
            else:
                points[x] = _combined(how, points[x], value)
    xs = list(seen)
    data.kind = _kind(xs)
    if data.kind != "category":
        try:
            xs.sort()
        except (TypeError, ArithmeticError):  # naive and aware datetimes, ...
            data.kind = "category"
    data.xs = xs
    if len(data.series) > MAX_SERIES:
        totals = {key: sum(abs(v or 0) for v in p.values()) for key, p in data.series.items()}
        kept = sorted(totals, key=totals.__getitem__, reverse=True)[:MAX_SERIES]
        data.left_out = len(data.series) - MAX_SERIES
        data.series = {key: p for key, p in data.series.items() if key in kept}
    return data


def _combined(how: str, before: float | None, value: float | None) -> float | None:
    """A point's value from two rows': added up, or the smaller or larger; a gap counts
    as nothing."""
    if before is None or value is None:
        return value if before is None else before
    if how == "min":
        return min(before, value)
    return max(before, value) if how == "max" else before + value


def _not_added(chart: ChartSpec, labels: dict[str, str], y: str) -> str:
    where = labels[chart.x] + (f" and {labels[chart.series]}" if chart.series else "")
    return _(
        "Several rows share a %(where)s, and their %(y)s cannot be added up into one point"
        " (it is not a sum, count, min or max). Leave out the other grouping columns, or"
        " chart a sum or a count."
    ) % {"where": where, "y": y}


def _number(value: Any) -> float | None:
    """y as a float; None (a gap) for what is not a number, or is beyond what a chart shows."""
    if isinstance(value, bool) or value is None:
        return None
    try:  # a Decimal, an int, or a formatted cell
        number = float(value if isinstance(value, int | float | Decimal) else str(value))
    except (ValueError, OverflowError):
        return None
    return number if number == 0 or 1e-100 < abs(number) < 1e100 else None


def _kind(xs: list[Any]) -> str:
    """How x values are placed: by value (numbers, times), or evenly (categories)."""
    if all(isinstance(x, int | float | Decimal) and not isinstance(x, bool) for x in xs):
        return "number"
    if all(isinstance(x, dt.datetime) for x in xs):
        return "time"
    dates = all(isinstance(x, dt.date) and not isinstance(x, dt.datetime) for x in xs)
    return "time" if dates else "category"


def _position(x: Any) -> float:
    if isinstance(x, dt.date):
        return x.timestamp() if isinstance(x, dt.datetime) else x.toordinal()
    return float(x)


class _Drawing:
    def __init__(self, chart: ChartSpec, title: str, labels, data: _Data) -> None:
        self.chart, self.title, self.labels, self.data = chart, title, labels, data
        self.bars_drawn = chart.type is ChartType.BAR
        self.kind = "category" if self.bars_drawn else data.kind
        self.index = {x: index for index, x in enumerate(data.xs)}
        self.date_format = _date_format(data.xs)
        values = [v for points in data.series.values() for v in points.values() if v is not None]
        self.ticks, self.step = _nice_ticks(min([0.0, *values]), max([0.0, *values]))
        self.tick_texts = _number_texts(self.ticks, self.step)
        names = [_cut(name) for name in data.series]
        # The legend: a gap, a swatch, the longest name, a margin (capitals are wide).
        legend = 16 + 18 + max(len(name) for name in names) * CHAR + 14
        self.left = round(24 + max(len(text) for text in self.tick_texts) * CHAR)
        self.right, self.top, self.bottom = WIDTH - round(legend), 12, HEIGHT - 48

    def svg(self) -> ChartSVG:
        parts = [
            *self.y_axis(),
            *self.x_axis(),
            *(self.bars() if self.bars_drawn else self.lines()),
            *self.legend(),
        ]
        return _svg(self.chart.type.value, HEIGHT, self.title, self.caption(), parts)

    def caption(self) -> str:
        text = self.title
        if self.chart.series:
            each = _("one bar per %(name)s") if self.bars_drawn else _("one line per %(name)s")
            text += ", " + each % {"name": self.labels[self.chart.series]}
        text += _(": %(rows)s rows.") % {"rows": f"{self.data.rows:,}"}
        if self.data.left_out:
            text += " " + _("The %(kept)s largest series are drawn, %(more)s more are not.") % {
                "kept": MAX_SERIES,
                "more": self.data.left_out,
            }
        return " ".join([text, *self.data.notes])

    def x_at(self, x: Any) -> float:
        width = self.right - self.left
        if self.kind == "category":
            return self.left + width * (self.index[x] + 0.5) / len(self.data.xs)
        low, high = _position(self.data.xs[0]), _position(self.data.xs[-1])
        if high == low:
            return self.left + width / 2
        return self.left + width * (_position(x) - low) / (high - low)

    def y_at(self, value: float) -> float:
        low, high = self.ticks[0], self.ticks[-1]
        return self.bottom - (self.bottom - self.top) * (value - low) / (high - low)

    def y_axis(self) -> list[str]:
        parts = ['<g class="y-axis" text-anchor="end">']
        for tick, text in zip(self.ticks, self.tick_texts, strict=True):
            y = _f(self.y_at(tick))
            opacity = "0.5" if tick == 0 else "0.15"
            parts.append(
                f'<line x1="{self.left}" x2="{self.right}" y1="{y}" y2="{y}"'
                f' stroke="currentColor" stroke-opacity="{opacity}"/>'
                f'<text x="{self.left - 6}" y="{y}" dy="0.35em">{_esc(text)}</text>'
            )
        middle = _f((self.top + self.bottom) / 2)
        label = ", ".join(self.labels[name] for name in self.chart.y)
        parts.append(
            f'<text class="axis-label" x="14" y="{middle}" text-anchor="middle"'
            f' transform="rotate(-90 14 {middle})">{_esc(_cut(label, 48))}</text></g>'
        )
        return parts

    def x_axis(self) -> list[str]:
        xs = self.data.xs
        texts = [_cut(_text(x, self.date_format), 16) for x in xs]
        room = max(len(text) for text in texts) * CHAR + 12
        every = math.ceil(len(xs) / max(1, int((self.right - self.left) // room)))
        parts = [
            f'<g class="x-axis" text-anchor="middle"><line x1="{self.left}" x2="{self.right}"'
            f' y1="{self.bottom}" y2="{self.bottom}" stroke="currentColor" stroke-opacity="0.5"/>'
        ]
        last = -math.inf
        for index in range(0, len(xs), 1 if self.kind != "category" else every):
            # Placed by value, ticks are as far apart as their values: each keeps its room.
            if self.x_at(xs[index]) - last < room:
                continue
            last = self.x_at(xs[index])
            x = _f(last)
            parts.append(
                f'<line x1="{x}" x2="{x}" y1="{self.bottom}" y2="{self.bottom + 4}"'
                f' stroke="currentColor" stroke-opacity="0.5"/><text x="{x}"'
                f' y="{self.bottom + 18}">{_esc(texts[index])}</text>'
            )
        center = _f((self.left + self.right) / 2)
        parts.append(
            f'<text class="axis-label" x="{center}" y="{HEIGHT - 8}">'
            f"{_esc(self.labels[self.chart.x])}</text></g>"
        )
        return parts

    def lines(self) -> list[str]:
        parts = []
        step = self.x_step()
        for index, (name, points) in enumerate(self.data.series.items()):
            drawn = [
                (i, x, v) for i, x in enumerate(self.data.xs) if (v := points.get(x)) is not None
            ]
            parts.append(self.line(index, name, drawn, step))
        return parts

    def x_step(self) -> float | None:
        """The x axis's usual distance between neighbours (values placed by value): a
        wider one between two points is x values no row has, a gap (days without sales)."""
        if self.kind == "category" or len(self.data.xs) < 2:
            return None
        positions = [_position(x) for x in self.data.xs]
        steps = [b - a for a, b in itertools.pairwise(positions) if b > a]
        return min(steps) if steps else None

    def _apart(self, before: Any, after: Any, step: float | None) -> bool:
        return step is not None and _position(after) - _position(before) > 1.5 * step

    def line(
        self, index: int, name: str, drawn: list[tuple[int, Any, float]], step: float | None
    ) -> str:
        """One path, broken where a value is missing; dots on its points."""
        colour, path, dots = PALETTE[index % len(PALETTE)], [], []
        for n, (i, x, value) in enumerate(drawn):
            starts = n == 0 or drawn[n - 1][0] + 1 < i or self._apart(drawn[n - 1][1], x, step)
            alone = starts and (
                n + 1 == len(drawn)
                or drawn[n + 1][0] > i + 1
                or self._apart(x, drawn[n + 1][1], step)
            )
            px, py = _f(self.x_at(x)), _f(self.y_at(value))
            path.append(f"{'M' if starts else 'L'}{px} {py}")
            # A point alone draws no line: it always gets its dot.
            if alone or len(self.data.xs) <= MARKERS_UP_TO:
                tip = self.tip(name, x, value)
                dots.append(f'<circle cx="{px}" cy="{py}" r="3">{tip}</circle>')
        return (
            f'<g class="series series-{index}" fill="{colour}" data-series="{_esc(name)}">'
            f'<path d="{" ".join(path)}" fill="none" stroke="{colour}" stroke-width="2"'
            f' stroke-linejoin="round"/>{"".join(dots)}</g>'
        )

    def bars(self) -> list[str]:
        series = list(self.data.series.items())
        band = (self.right - self.left) / len(self.data.xs)
        width = band * 0.8 / len(series)
        zero = self.y_at(0.0)
        parts = []
        for index, (name, points) in enumerate(series):
            colour = PALETTE[index % len(PALETTE)]
            parts.append(
                f'<g class="series series-{index}" fill="{colour}" data-series="{_esc(name)}">'
            )
            for x in self.data.xs:
                value = points.get(x)
                if value is None:
                    continue
                left = self.x_at(x) - band * 0.4 + index * width
                top, bottom = sorted((self.y_at(value), zero))
                parts.append(
                    f'<rect x="{_f(left)}" y="{_f(top)}" width="{_f(max(width - 1, 0.5))}"'
                    f' height="{_f(bottom - top)}">{self.tip(name, x, value)}</rect>'
                )
            parts.append("</g>")
        return parts

    def tip(self, name: str, x: Any, value: float) -> str:
        text = f"{name}, {_text(x, self.date_format)}: {value:,.{0 if value.is_integer() else 2}f}"
        return f"<title>{_esc(text)}</title>"

    def legend(self) -> list[str]:
        x = self.right + 16
        parts = ['<g class="legend">']
        for index, name in enumerate(self.data.series):
            y = self.top + index * 18
            parts.append(
                f'<g class="legend-entry"><title>{_esc(name)}</title><rect x="{x}" y="{y}"'
                f' width="12" height="12" fill="{PALETTE[index % len(PALETTE)]}"/>'
                f'<text x="{x + 18}" y="{y + 10}">{_esc(_cut(name))}</text></g>'
            )
        if self.data.left_out:
            more = _("+ %(count)s more, not drawn") % {"count": self.data.left_out}
            y = self.top + len(self.data.series) * 18 + 10
            parts.append(f'<text class="legend-note" x="{x}" y="{y}">{_esc(more)}</text>')
        parts.append("</g>")
        return parts


def _message(title: str, text: str) -> ChartSVG:
    body = f'<text x="{WIDTH // 2}" y="34" text-anchor="middle">{_esc(text)}</text>'
    return _svg("empty", 60, title, f"{title}: {text}", [body])


def _svg(kind: str, height: int, title: str, caption: str, parts: list[str]) -> ChartSVG:
    """The svg element; its text and axes take the colour of the text around it."""
    id = f"chart-{uuid.uuid4().hex[:8]}"  # the page may show several charts
    svg = ChartSVG(
        "\n".join(
            [
                f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}"'
                f' width="{WIDTH}" height="{height}" role="img" aria-labelledby="{id}-title'
                f' {id}-desc" class="admin-reports-chart chart-{kind}" font-family="sans-serif"'
                f' font-size="{FONT_SIZE}" fill="currentColor">',
                f'<title id="{id}-title">{_esc(title)}</title>',
                f'<desc id="{id}-desc">{_esc(caption)}</desc>',
                *parts,
                "</svg>",
            ]
        )
    )
    svg.caption = caption
    return svg


def _nice_ticks(low: float, high: float, count: int = 5) -> tuple[list[float], float]:
    """Round ticks from at most `low` to at least `high`, about `count` steps apart."""
    if high == low:
        low, high = (0.0, 1.0) if low == 0 else (min(low, 0.0), max(high, 0.0))
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw * (1 - 1e-9))
    start, stop = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return [i * step for i in range(start, stop + 1)], step


def _number_texts(ticks: list[float], step: float) -> list[str]:
    """1,500 / 25k / 1.5M / 2B: as many decimals as the step needs, no more."""
    top = max(abs(tick) for tick in ticks)
    size, suffix = next(
        ((size, suffix) for size, suffix in UNITS if top >= size * (10 if suffix == "k" else 1)),
        (1.0, ""),
    )
    decimals = min(max(0, -math.floor(math.log10(step / size) + 1e-9)), 12)
    # Zero is "0": not "0k", not "-0.0".
    return [
        f"{tick / size:,.{decimals}f}{suffix}" if abs(tick) > step / 2 else "0" for tick in ticks
    ]


def _date_format(xs: list[Any]) -> str:
    """How x's dates read: by month when they are months, with the year when it changes."""
    dates = [x for x in xs if isinstance(x, dt.date) and not isinstance(x, dt.datetime)]
    if dates and all(x.day == 1 for x in dates):
        return "M Y"
    return "j M" if len({x.year for x in dates}) == 1 else "j M Y"


def _text(value: Any, date_format: str | None = None) -> str:
    """An x value or series name in words."""
    if value is None:
        return _("(empty)")
    if isinstance(value, dt.datetime):
        local = timezone.localtime(value) if timezone.is_aware(value) else value
        return dateformat.format(local, "j M Y H:i")
    if isinstance(value, dt.date):
        return dateformat.format(value, date_format or "j M Y")
    return str(value)


def _cut(text: str, limit: int = LABEL_CHARS) -> str:
    """Long text cut in the middle: names often differ at their end ("… 2026 B")."""
    if len(text) <= limit:
        return text
    tail = (limit - 1) // 2
    return text[: limit - 1 - tail] + "…" + text[-tail:]


def _esc(text: str) -> str:
    return escape(NOT_XML.sub("", text))


def _f(number: float) -> str:
    return f"{number:.1f}".removesuffix(".0")
