"""Each panel drawn on its matplotlib axes the way its type shows it: lines, stat, bars, table,
pie, map and text, from the panel's transformed tables (:mod:`dashboards.preview.transformations`).
"""

from __future__ import annotations

import math
import re
import textwrap
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from matplotlib.axes import Axes

from dashboards.preview.transformations import (
    TIME,
    Row,
    Table,
    as_number,
    column_names,
    reduce_values,
    transform,
)
from sensors.measurements import STATUS_CODES

Series = dict[str, Any]
"""One series of an InfluxDB 1.8 ``/query`` answer: ``name``, ``tags``, ``columns``, ``values``."""
Draw = Callable[[Axes, Mapping[str, Any], list[Table]], None]

DPI = 90
_LEGEND_ENTRIES = 5
_BARS = 10
_TABLE_ROWS = 8
_TABLE_COLUMNS = 6
_INCHES_PER_CHARACTER = 0.075
"""About how wide a character of 9-point text is."""
_PIE_SLICES = 7
_NUMBERS = 4
_TEXT_LINES = 14
_STATE_COLOURS = {
    "normal": "#56a64b",
    "unhealthy": "#8e8e8e",
    "anomalous": "#f2cc0c",
    "indeterminate": "#8ab8ff",
    "warning": "#ff9830",
    "minor": "#fa6400",
    "major": "#e02f44",
    "critical": "#8f0e21",
}
_STATE_NAMES = {code: name for name, code in STATUS_CODES.items()}
_UNITS = {"percent": (1, "%"), "percentunit": (100, "%"), "s": (1, " s"), "ms": (1, " ms")}
"""Grafana units shown as a factor and a suffix; other units are shown as plain numbers."""
_EPOCH_SCALES = ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3))
"""(at least, per second): an epoch time this large is in nanoseconds, microseconds, milliseconds."""
_MARKDOWN = re.compile(r"^#+\s*|\*\*|__|`|\[([^\]]*)\]\([^)]*\)")


def draw_panel(axes: Axes, panel: Mapping[str, Any], tables: list[Table]) -> None:
    """One panel: its title, then its transformed tables drawn the way its type shows them."""
    axes.set_title(_clip(panel.get("title", ""), 60), loc="left", fontsize=12, fontweight="bold")
    axes.tick_params(labelsize=9)
    if panel.get("type") == "text":
        _draw_text(axes, panel)
        return
    tables, skipped = transform(panel, tables)
    if skipped:
        _note(axes, f"shown before {skipped}: not previewed", colour="firebrick")
    if not any(tables):
        _say(axes, "no data")
    else:
        _DRAWERS.get(panel.get("type", ""), _draw_lines)(axes, panel, [table for table in tables if table])


def _draw_lines(axes: Axes, panel: Mapping[str, Any], tables: list[Table]) -> None:
    """A line per series (rows of the same text values) and number column; bars when no series
    has two points in time."""
    lines = list(_lines(tables))
    if all(len(times) < 2 for _, times, _ in lines):
        _draw_bars(axes, panel, tables)
        return
    steps = "steps-post" if panel.get("type") == "state-timeline" else "default"
    for label, times, values in lines:
        # matplotlib converts datetimes itself (concise dates: see preview); its stubs list arrays only.
        axes.plot(times, values, label=label, linewidth=1.3, drawstyle=steps)  # type: ignore[arg-type]
    axes.grid(alpha=0.3)
    handles, labels = axes.get_legend_handles_labels()
    if len(handles) > 1:
        more = f"{len(handles)} series, first {_LEGEND_ENTRIES}" if len(handles) > _LEGEND_ENTRIES else None
        axes.legend(
            handles[:_LEGEND_ENTRIES], labels[:_LEGEND_ENTRIES], title=more, fontsize=8, title_fontsize=8
        )


def _draw_stat(axes: Axes, panel: Mapping[str, Any], tables: list[Table]) -> None:
    """Each reduced value as a big number, named underneath when there are several."""
    numbers = _reduced(panel, tables)[:_NUMBERS]
    if not numbers:
        _say(axes, "no numbers")
        return
    factor, suffix = _UNITS.get(panel.get("fieldConfig", {}).get("defaults", {}).get("unit", ""), (1, ""))
    axes.set_axis_off()
    for index, (label, value) in enumerate(numbers):
        x = (index + 0.5) / len(numbers)
        text = _number_text(value * factor) + suffix
        axes.text(x, 0.5, text, ha="center", va="center", fontsize=30 - 4 * len(numbers))
        if len(numbers) > 1:
            axes.text(x, 0.12, _clip(label, 28), ha="center", fontsize=9, color="dimgray")


def _draw_bars(axes: Axes, panel: Mapping[str, Any], tables: list[Table]) -> None:
    """The first reduced values as horizontal bars, top down, each named on its bar."""
    bars = _reduced(panel, tables)[:_BARS][::-1]
    if not bars:
        _say(axes, "no numbers")
        return
    axes.barh(range(len(bars)), [value for _, value in bars], color="#5794f2", alpha=0.5)
    for index, (label, value) in enumerate(bars):
        text = f"{_clip(label, 40)}: {_number_text(value)}"
        axes.text(0.01, index, text, va="center", transform=axes.get_yaxis_transform())
    axes.set_yticks([])
    axes.grid(axis="x", alpha=0.3)


def _draw_table(axes: Axes, panel: Mapping[str, Any], tables: list[Table]) -> None:
    """The first rows and columns of the first table, each column as wide as its text."""
    rows = tables[0]
    columns = column_names(rows)[:_TABLE_COLUMNS]
    cells = [[_cell_text(row.get(column)) for column in columns] for row in rows[:_TABLE_ROWS]]
    widths = [
        max(len(text) for text in [column, *(line[index] for line in cells)]) + 2
        for index, column in enumerate(columns)
    ]
    axes.set_axis_off()
    table = axes.table(
        cellText=cells,
        colLabels=columns,
        colWidths=[width / sum(widths) for width in widths],
        loc="upper center",
        cellLoc="left",
    )
    table.auto_set_font_size(False)
    fits = axes.bbox.width / DPI / _INCHES_PER_CHARACTER / sum(widths)  # at 9 points
    table.set_fontsize(max(6.0, min(9.0, 9 * fits)))
    if len(rows) > _TABLE_ROWS:
        _note(axes, f"first {_TABLE_ROWS} of {len(rows)} rows")


def _draw_pie(axes: Axes, panel: Mapping[str, Any], tables: list[Table]) -> None:
    """The largest positive reduced values as slices, the rest as one "other" slice."""
    slices = sorted(
        ((label, value) for label, value in _reduced(panel, tables) if value > 0), key=lambda s: -s[1]
    )
    axes.set_axis_off()
    if not slices:
        _say(axes, "nothing above zero")
        return
    if len(slices) > _PIE_SLICES:
        rest = sum(value for _, value in slices[_PIE_SLICES - 1 :])
        slices = [*slices[: _PIE_SLICES - 1], ("other", rest)]
    wedges, _ = axes.inset_axes((0.0, 0.0, 0.5, 1.0)).pie(
        [value for _, value in slices], startangle=90, counterclock=False
    )
    labels = [f"{_clip(label, 24)} ({_number_text(value)})" for label, value in slices]
    axes.legend(wedges, labels, loc="center left", bbox_to_anchor=(0.5, 0.5), fontsize=8, frameon=False)


def _draw_map(axes: Axes, panel: Mapping[str, Any], tables: list[Table]) -> None:
    """Each site at its longitude and latitude, coloured by its state (:func:`_site_state`)."""
    sites: dict[str, tuple[int, float, float]] = {}
    for row in (row for table in tables for row in table):
        latitude, longitude = as_number(row.get("latitude")), as_number(row.get("longitude"))
        if latitude is None or longitude is None:
            continue
        site = str(row.get("site_id", len(sites)))
        state = max(_site_state(row), sites[site][0] if site in sites else 0)
        sites[site] = (state, longitude, latitude)
    if not sites:
        _say(axes, "no sites with a position")
        return
    for code in sorted({state for state, _, _ in sites.values()}):
        name = _STATE_NAMES.get(code, str(code))
        points = [(longitude, latitude) for state, longitude, latitude in sites.values() if state == code]
        axes.scatter(
            [longitude for longitude, _ in points],
            [latitude for _, latitude in points],
            s=9,
            color=_STATE_COLOURS.get(name, "black"),
            label=f"{name} ({len(points)})",
        )
    mean_latitude = sum(latitude for _, _, latitude in sites.values()) / len(sites)
    axes.set_aspect(1 / math.cos(math.radians(mean_latitude)), adjustable="datalim")
    axes.set_xticks([])
    axes.set_yticks([])
    axes.legend(
        loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=4, fontsize=8, markerscale=1.5, frameon=False
    )


def _site_state(row: Row) -> int:
    """A site's state code: its ``state`` column, else its status ``code``, raised to unhealthy
    when it is ``stale`` or ``flatline``."""
    state = as_number(row.get("state"))
    if state is not None:
        return int(state)
    code = int(as_number(row.get("code")) or 0)
    if as_number(row.get("stale")) or as_number(row.get("flatline")):
        return max(code, STATUS_CODES["unhealthy"])
    return code


def _draw_text(axes: Axes, panel: Mapping[str, Any]) -> None:
    """A text panel's content, its markdown marks taken out, wrapped to the panel's width."""
    content = panel.get("options", {}).get("content") or panel.get("content", "")
    width = max(int(panel.get("gridPos", {}).get("w", 12)) * 6, 30)
    lines = [
        wrapped
        for line in content.splitlines()
        for wrapped in textwrap.wrap(_MARKDOWN.sub(lambda match: match[1] or "", line.strip()), width) or [""]
    ]
    axes.set_axis_off()
    axes.text(0.0, 1.0, "\n".join(lines[:_TEXT_LINES]), va="top", fontsize=9, wrap=True)


_DRAWERS: dict[str, Draw] = {
    "timeseries": _draw_lines,
    "barchart": _draw_lines,
    "state-timeline": _draw_lines,
    "stat": _draw_stat,
    "gauge": _draw_stat,
    "bargauge": _draw_bars,
    "table": _draw_table,
    "piechart": _draw_pie,
    "geomap": _draw_map,
}
"""How each panel type is drawn; a type not listed is drawn as lines."""


def _reduced(panel: Mapping[str, Any], tables: list[Table]) -> list[tuple[str, float]]:
    """Labelled numbers for stats, bars and slices, as the panel's ``reduceOptions`` say: every
    row's numbers (``values``), or each series' numbers reduced (by default to the last)."""
    options = panel.get("options", {}).get("reduceOptions", {})
    if options.get("values"):
        return [
            (_label(row, column, numbers), number)
            for table in tables
            for numbers in [_number_columns(table)]
            for row in table
            for column in numbers
            if (number := as_number(row.get(column))) is not None
        ]
    calc = (options.get("calcs") or ["lastNotNull"])[0]
    return [
        (label, number)
        for label, column, rows in _series(tables)
        if (number := as_number(reduce_values(calc, [row.get(column) for row in rows]))) is not None
    ]


def _lines(tables: list[Table]) -> Iterator[tuple[str, list[datetime], list[float]]]:
    """Each series as (label, times, values), its rows without a time or a number left out."""
    for label, column, rows in _series(tables):
        points = [
            (row[TIME], number)
            for row in rows
            if TIME in row and (number := as_number(row.get(column))) is not None
        ]
        yield label, [time for time, _ in points], [value for _, value in points]


def _series(tables: list[Table]) -> Iterator[tuple[str, str, Table]]:
    """Each series, Grafana's way: a table's rows with the same text values, and one of its number
    columns; as (label, column, rows)."""
    for table in tables:
        numbers = _number_columns(table)
        series: dict[tuple[str, ...], Table] = defaultdict(list)
        for row in table:
            series[_texts(row)].append(row)
        for rows in series.values():
            for column in numbers:
                yield _label(rows[0], column, numbers), column, rows


def _label(row: Row, column: str, number_columns: list[str]) -> str:
    """A row's name: its text values, and the column when it has several numbers (or no text)."""
    texts = _texts(row)
    return " ".join([*texts, column] if len(number_columns) > 1 or not texts else texts)


def _texts(row: Row) -> tuple[str, ...]:
    return tuple(value for key, value in row.items() if key != TIME and isinstance(value, str))


def as_table(series: list[Series]) -> Table:
    """A target's series as one table, the way Grafana shows an InfluxDB answer: its time first,
    then the series' tags, then its other columns."""
    rows = []
    for one in series:
        for values in one.get("values", []):
            fields = dict(zip(one.get("columns", []), values, strict=False))
            time = {TIME: _time(fields.pop("time"))} if "time" in fields else {}
            rows.append(time | (one.get("tags") or {}) | fields)
    return rows


def _number_columns(table: Table) -> list[str]:
    """The columns holding numbers and nothing else (booleans count as 0 and 1)."""
    return [
        column
        for column in column_names(table)
        if column != TIME
        and any(row.get(column) is not None for row in table)
        and all(row.get(column) is None or as_number(row.get(column)) is not None for row in table)
    ]


def _time(value: Any) -> datetime:
    """An InfluxDB time: RFC3339 text, or an epoch number in nanoseconds, microseconds,
    milliseconds or seconds, told apart by its size."""
    if isinstance(value, str):
        return datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", value))
    per_second = next((scale for at_least, scale in _EPOCH_SCALES if abs(value) >= at_least), 1.0)
    return datetime.fromtimestamp(value / per_second, UTC)


def _number_text(value: float) -> str:
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return f"{value:%m-%d %H:%M}"
    number = as_number(value)
    return _number_text(number) if number is not None else _clip(str(value), 24)


def _clip(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, an ellipsis marking the cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _note(axes: Axes, text: str, *, colour: str = "dimgray") -> None:
    """A small note at the right of the panel's title."""
    axes.text(1.0, 1.02, text, ha="right", va="bottom", fontsize=8, color=colour, transform=axes.transAxes)


def _say(axes: Axes, text: str) -> None:
    axes.set_axis_off()
    axes.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, color="gray")
