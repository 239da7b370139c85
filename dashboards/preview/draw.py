"""A dashboard drawn as one PNG from the queries Grafana would run, for reports and the README.

:func:`preview` runs each panel's queries (macros and variables substituted by
:mod:`dashboards.preview.macros`) through a query function and draws every panel by its type on one
figure laid out like the dashboard; :func:`influx_query` is that function for InfluxDB's
``/query`` endpoint. Drawing needs no display: figures are rendered with matplotlib's Agg.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from matplotlib import rc_context
from matplotlib.figure import Figure

from dashboards.preview.macros import PanelQuery, choose, panel_queries, panels, render
from dashboards.preview.panels import DPI, Series, as_table, draw_panel

Query = Callable[[str], list[Series]]
"""Runs one rendered InfluxQL query and returns its series (empty when nothing matched)."""
GRID_COLUMNS = 24
"""Grafana's dashboard grid is 24 columns wide."""
DATA_POINTS = 500
"""Points per panel when it sets no ``maxDataPoints`` (Grafana uses the panel's width in pixels)."""

_INCHES_WIDE = 16.0
_INCHES_PER_GRID_ROW = 0.4
_INCHES_HEADER = 0.6
_PADDING = (0.5, 0.45, 0.15, 0.35)
"""Inches kept free around a panel's plot (left, bottom, right, top): tick labels and its title."""


class QueryError(RuntimeError):
    """InfluxDB refused a query, or could not be asked: the message is InfluxDB's own."""


def influx_query(url: str, database: str, token: str | None = None, *, timeout: float = 30.0) -> Query:
    """A :data:`Query` asking InfluxDB's ``/query`` at ``url`` (times in epoch milliseconds, as Grafana).

    ``token`` is sent as ``Authorization: Token ...``: ``user:password`` on InfluxDB 1.8, a token on 2.x.
    """
    endpoint = url.rstrip("/") + "/query"
    headers = {"Accept": "application/json"} | ({"Authorization": f"Token {token}"} if token else {})

    def query(text: str) -> list[Series]:
        parameters = urllib.parse.urlencode({"db": database, "q": text, "epoch": "ms"})
        request = urllib.request.Request(f"{endpoint}?{parameters}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as error:
            raise QueryError(f"InfluxDB: {_http_error(error)} in query: {text}") from error
        except (urllib.error.URLError, TimeoutError) as error:
            raise QueryError(f"InfluxDB at {url} cannot be reached: {error}") from error
        results = answer.get("results", [])
        errors = [result["error"] for result in results if "error" in result]
        if errors:
            raise QueryError(f"InfluxDB: {errors[0]} in query: {text}")
        return [series for result in results for series in result.get("series", [])]

    return query


def preview(
    dashboard: Mapping[str, Any],
    query: Query,
    out: Path,
    *,
    start: datetime,
    end: datetime,
    variables: Mapping[str, str | Sequence[str]] | None = None,
) -> Path:
    """Draw ``dashboard`` over ``start``..``end`` into ``out/<uid>.png`` and return that path.

    ``variables`` overrides template variables' current values (see :func:`dashboards.preview.macros.choose`).
    Each panel's answers go through its transformations (:func:`dashboards.preview.transformations.transform`)
    before they are drawn. A panel whose queries return nothing says "no data"; a query that fails raises,
    noting the panel.
    """
    chosen = choose(dashboard, variables)
    queries: dict[int | None, list[PanelQuery]] = defaultdict(list)
    for panel_query in panel_queries(dashboard):
        queries[panel_query.panel_id].append(panel_query)
    placed = list(_layout(panels(dashboard)))
    grid_rows = max((top + height for _, top, height, _, _ in placed), default=1)
    size = (_INCHES_WIDE, _INCHES_HEADER + grid_rows * _INCHES_PER_GRID_ROW)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{dashboard.get('uid', 'dashboard')}.png"
    with rc_context({"date.converter": "concise"}):
        figure = Figure(figsize=size, dpi=DPI)
        title = f"{dashboard.get('title', '')}    {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"
        figure.suptitle(title, fontsize=15, fontweight="bold")
        for panel, top, height, left, width in placed:
            interval = (end - start) / (panel.get("maxDataPoints") or DATA_POINTS)
            tables = [
                as_table(_run(panel_query, query, start=start, end=end, interval=interval, variables=chosen))
                for panel_query in queries[panel.get("id")]
            ]
            draw_panel(figure.add_axes(_rectangle(size, top, height, left, width)), panel, tables)
        figure.savefig(path)
    return path


def _run(
    panel_query: PanelQuery,
    query: Query,
    *,
    start: datetime,
    end: datetime,
    interval: timedelta,
    variables: Mapping[str, Sequence[str]],
) -> list[Series]:
    """One panel query's series; a failure is noted with the panel and the query sent."""
    rendered = render(
        panel_query.query,
        start=start,
        end=end,
        interval=interval,
        variables=variables,
        min_interval=panel_query.min_interval,
    )
    try:
        return query(rendered)
    except Exception as error:
        error.add_note(f"panel {panel_query.panel_title!r}, target {panel_query.ref_id!r}: {rendered}")
        raise


def _layout(panels: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], int, int, int, int]]:
    """Each panel with its grid top, height, left and width: Grafana's lines, panels side by side."""
    top = line_height = left = 0
    line_y = None
    for panel in panels:
        position = panel.get("gridPos", {})
        width = min(max(int(position.get("w", 12)), 1), GRID_COLUMNS)
        height = max(int(position.get("h", 8)), 3)
        if line_y is not None and (position.get("y") != line_y or left + width > GRID_COLUMNS):
            top, left, line_height = top + line_height, 0, 0
        yield panel, top, height, left, width
        left, line_height, line_y = left + width, max(line_height, height), position.get("y")


def _rectangle(
    size: tuple[float, float], top: int, height: int, left: int, width: int
) -> tuple[float, float, float, float]:
    """Where a panel's plot goes on the figure (left, bottom, width, height as fractions), padded."""
    figure_width, figure_height = size
    column = figure_width / GRID_COLUMNS
    pad_left, pad_bottom, pad_right, pad_top = _PADDING
    plot_left = left * column + pad_left
    plot_top = _INCHES_HEADER + top * _INCHES_PER_GRID_ROW + pad_top
    plot_width = width * column - pad_left - pad_right
    plot_height = height * _INCHES_PER_GRID_ROW - pad_top - pad_bottom
    return (
        plot_left / figure_width,
        1 - (plot_top + plot_height) / figure_height,
        plot_width / figure_width,
        plot_height / figure_height,
    )


def _http_error(error: urllib.error.HTTPError) -> str:
    """InfluxDB's message from an error answer, or the HTTP status when it gave none."""
    try:
        return str(json.loads(error.read())["error"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {error.code} {error.reason}"
