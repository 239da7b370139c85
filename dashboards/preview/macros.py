r"""Grafana's InfluxQL macros and template variables, substituted the way Grafana 11 does it.

Tests and previews run exactly the query a panel sends to InfluxDB: :func:`panel_queries` lists
every query of a dashboard (and :func:`variable_queries` those of its variables), :func:`choose`
picks each template variable's values, and :func:`render` substitutes macros and variables.

>>> from datetime import UTC, datetime, timedelta
>>> start = datetime(2025, 1, 1, tzinfo=UTC)
>>> render(
...     "SELECT mean(value) FROM reading WHERE $timeFilter GROUP BY time($__interval)",
...     start=start,
...     end=start + timedelta(hours=1),
...     interval=timedelta(hours=1) / 1000,
... )
'SELECT mean(value) FROM reading WHERE time >= 1735689600000ms and time <= 1735693200000ms GROUP BY time(5s)'

Several values of a variable become an escaped alternation; a custom "All" value stays as it is:

>>> site = {"name": "site", "type": "query", "multi": True, "includeAll": True, "allValue": ".*"}
>>> dashboard = {"uid": "city", "templating": {"list": [site]}}
>>> where = 'WHERE "site_id" =~ /^$site$/'
>>> render(where, start=start, end=start, interval=timedelta(0), variables={"site": ["s-1", "s.2"]})
'WHERE "site_id" =~ /^(s-1|s\\.2)$/'
>>> render(where, start=start, end=start, interval=timedelta(0), variables=choose(dashboard))
'WHERE "site_id" =~ /^.*$/'
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

ALL = "$__all"
"""The value Grafana stores for a variable's "All" choice."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)

_ROUNDED = (
    (15, 10),
    (35, 20),
    (75, 50),
    (150, 100),
    (350, 200),
    (750, 500),
    (1_500, 1_000),
    (3_500, 2_000),
    (7_500, 5_000),
    (12_500, 10_000),
    (17_500, 15_000),
    (25_000, 20_000),
    (45_000, 30_000),
    (90_000, 60_000),
    (210_000, 120_000),
    (450_000, 300_000),
    (750_000, 600_000),
    (1_050_000, 900_000),
    (1_500_000, 1_200_000),
    (2_700_000, 1_800_000),
    (5_400_000, 3_600_000),
    (9_000_000, 7_200_000),
    (16_200_000, 10_800_000),
    (32_400_000, 21_600_000),
    (86_400_000, 43_200_000),
    (604_800_000, 86_400_000),
    (1_814_400_000, 604_800_000),
    (3_628_800_000, 2_592_000_000),
)
"""Grafana's ``roundInterval``: an interval below the first number of milliseconds becomes the second."""
_LONGEST_ROUNDED = 31_536_000_000

_UNITS = {
    "y": timedelta(days=365),
    "w": timedelta(weeks=1),
    "d": timedelta(days=1),
    "h": timedelta(hours=1),
    "m": timedelta(minutes=1),
    "s": timedelta(seconds=1),
    "ms": _MILLISECOND,
}
_SHOWN_UNITS = ("y", "d", "h", "m", "s", "ms")
"""The units Grafana writes an interval in (a week is written ``7d``)."""
_INTERVAL = re.compile(r">?(\d+)(ms|s|m|h|d|w|y)")

_TOKEN = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?::([^}]+))?\}")
"""Grafana's variable syntax: ``$name``, ``${name}``, ``${name:format}``, ``[[name]]``, ``[[name:format]]``
(a format is raw or regex)."""
_REGEX_LITERAL = re.compile(r"[=!]~\s*/(?:\\.|[^/\\\n])*/")
"""An InfluxQL regular expression compared with ``=~`` or ``!~``: where a value has to be escaped."""
_REGEX_SPECIAL = re.compile(r"[\\^$*+?.()|\[\]{}/]")
"""The characters Grafana's ``escapeRegex`` puts a backslash before."""


class Raw(str):
    """A value put in a query as it is, never escaped: a variable's custom "All" value, a macro."""

    __slots__ = ()


@dataclass(frozen=True)
class PanelQuery:
    """One InfluxQL query of a dashboard: a panel's target, or an annotation's (``panel_id`` None)."""

    dashboard_uid: str
    panel_id: int | None
    panel_title: str
    panel_type: str
    ref_id: str
    query: str
    result_format: str
    min_interval: timedelta | None = None
    """The panel's "Min interval" query option: ``$__interval`` is never shorter."""


@dataclass(frozen=True)
class VariableQuery:
    """The query that lists a template variable's values (``SHOW TAG VALUES ...``)."""

    dashboard_uid: str
    name: str
    query: str


def panels(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every panel in reading order (by ``gridPos``), a row's panels after it, rows themselves left out."""
    found: list[dict[str, Any]] = []
    for panel in sorted(dashboard.get("panels", []), key=_position):
        if panel.get("type") == "row":
            found.extend(sorted(panel.get("panels", []), key=_position))
        else:
            found.append(panel)
    return found


def panel_queries(dashboard: Mapping[str, Any]) -> list[PanelQuery]:
    """Every query a dashboard runs: each panel's targets that are not hidden, then each annotation's.

    Raises ValueError for a target Grafana would not send as written (not a raw InfluxQL query).

    >>> panel = {"id": 1, "type": "stat", "title": "Sites", "interval": "1m", "targets": [
    ...     {"refId": "A", "query": "SELECT count(*) FROM site", "rawQuery": True},
    ...     {"refId": "B", "query": "SELECT 1", "rawQuery": True, "hide": True}]}
    >>> [(q.panel_title, q.ref_id, q.query, q.min_interval) for q in panel_queries({"panels": [panel]})]
    [('Sites', 'A', 'SELECT count(*) FROM site', datetime.timedelta(seconds=60))]
    """
    uid = str(dashboard.get("uid", ""))
    found: list[PanelQuery] = []
    for panel in panels(dashboard):
        interval = panel.get("interval")
        min_interval = parse_interval(interval) if interval else None
        for target in panel.get("targets", []):
            if target.get("hide"):
                continue
            ref_id = str(target.get("refId", ""))
            where = f"dashboard {uid!r}, panel {panel.get('title')!r}, target {ref_id!r}"
            if target.get("rawQuery") is not True or not target.get("query"):
                raise ValueError(f"{where}: not a raw InfluxQL query (rawQuery true and a query)")
            found.append(
                PanelQuery(
                    dashboard_uid=uid,
                    panel_id=panel.get("id"),
                    panel_title=str(panel.get("title", "")),
                    panel_type=str(panel.get("type", "")),
                    ref_id=ref_id,
                    query=target["query"],
                    result_format=str(target.get("resultFormat", "time_series")),
                    min_interval=min_interval,
                )
            )
    for annotation in dashboard.get("annotations", {}).get("list", []):
        target = annotation.get("target") or {}
        query = annotation.get("query") or target.get("query")
        if not query:  # Grafana's built-in annotations and alerts: nothing sent to InfluxDB
            continue
        found.append(
            PanelQuery(
                dashboard_uid=uid,
                panel_id=None,
                panel_title=str(annotation.get("name", "")),
                panel_type="annotation",
                ref_id=str(target.get("refId", "Anno")),
                query=query,
                result_format="table",
            )
        )
    return found


def variable_queries(dashboard: Mapping[str, Any]) -> list[VariableQuery]:
    """The queries of a dashboard's query variables, which Grafana runs to list their values."""
    uid = str(dashboard.get("uid", ""))
    found: list[VariableQuery] = []
    for variable in _variables(dashboard):
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        if isinstance(query, Mapping):  # newer Grafana keeps {"query": ..., "refId": ...}
            query = query.get("query")
        if not isinstance(query, str) or not query:
            raise ValueError(f"dashboard {uid!r}, variable {variable.get('name')!r}: no query")
        found.append(VariableQuery(dashboard_uid=uid, name=variable["name"], query=query))
    return found


def choose(
    dashboard: Mapping[str, Any], overrides: Mapping[str, str | Sequence[str]] | None = None
) -> dict[str, tuple[str, ...]]:
    """Each template variable's values: the override, else its current value, else All, else its first option.

    All (``$__all``) is the variable's custom all value, kept as it is, or else all its options.

    >>> district = {"name": "district", "current": {"text": "North", "value": "north"}}
    >>> kind = {"name": "kind", "includeAll": True, "allValue": ".*", "current": {"value": ["$__all"]}}
    >>> choose({"templating": {"list": [district, kind]}}, {"district": ["north", "south"]})
    {'district': ('north', 'south'), 'kind': ('.*',)}
    """
    variables = {variable["name"]: variable for variable in _variables(dashboard)}
    overrides = overrides or {}
    unknown = sorted(set(overrides) - set(variables))
    if unknown:
        raise ValueError(f"dashboard {dashboard.get('uid')!r} has no variable {', '.join(unknown)}")
    return {name: _values(variable, overrides.get(name)) for name, variable in variables.items()}


def render(
    query: str,
    *,
    start: datetime,
    end: datetime,
    interval: timedelta,
    variables: Mapping[str, Sequence[str]] | None = None,
    min_interval: timedelta | None = None,
) -> str:
    """The query as Grafana sends it for the time range ``start``..``end`` (aware datetimes).

    ``interval`` is the time range over the panel's data points (Grafana's max data points,
    by default the panel's width in pixels): ``$__interval`` is that rounded the way Grafana
    rounds it, or ``min_interval`` if it is shorter than that. ``variables`` are the chosen
    values (see :func:`choose`); a variable or macro not known is left as it is.

    A value in a regular expression (``=~ /^$site$/``) is escaped; several values are always
    escaped and joined as ``(a|b)``; ``${name:raw}`` and ``${name:regex}`` pick the format.
    """
    from_ms, to_ms = _epoch_ms(start), _epoch_ms(end)
    step = min_interval if min_interval is not None and interval < min_interval else round_interval(interval)
    range_ms = to_ms - from_ms
    range_s = (range_ms + 500) // 1000
    values: dict[str, Sequence[str]] = {
        name: (Raw(value),)
        for name, value in {
            "timeFilter": f"time >= {from_ms}ms and time <= {to_ms}ms",
            "__interval": format_interval(step),
            "interval": format_interval(step),
            "__interval_ms": str(step // _MILLISECOND),
            "__from": str(from_ms),
            "__to": str(to_ms),
            "__range": f"{range_s}s",
            "__range_s": str(range_s),
            "__range_ms": str(range_ms),
        }.items()
    }
    values.update(variables or {})  # a dashboard's own $interval wins over the macro, as in Grafana
    regexes = [match.span() for match in _REGEX_LITERAL.finditer(query)]

    def substitute(match: re.Match[str]) -> str:
        name = match[1] or match[2] or match[4]
        if name not in values:
            return match[0]
        in_regex = any(begin <= match.start() < finish for begin, finish in regexes)
        return _format(values[name], match[3] or match[5], in_regex=in_regex)

    return _TOKEN.sub(substitute, query)


def round_interval(interval: timedelta) -> timedelta:
    """Grafana's ``roundInterval``: the nearest of its steps (10ms ... 1m, 2m, 5m ... 1h ... 1y).

    >>> [format_interval(round_interval(timedelta(seconds=s))) for s in (0.3, 8, 50, 100, 3000)]
    ['200ms', '10s', '1m', '2m', '1h']
    """
    milliseconds = interval / _MILLISECOND
    for below, rounded in _ROUNDED:
        if milliseconds < below:
            return timedelta(milliseconds=rounded)
    return timedelta(milliseconds=_LONGEST_ROUNDED)


def format_interval(interval: timedelta) -> str:
    """An interval in its largest whole unit, as Grafana writes ``$__interval``.

    >>> [format_interval(timedelta(seconds=s)) for s in (0.5, 10, 90, 7200, 604800)]
    ['500ms', '10s', '1m', '2h', '7d']
    """
    for unit in _SHOWN_UNITS:
        if interval >= _UNITS[unit]:
            return f"{interval // _UNITS[unit]}{unit}"
    return "1ms"


def parse_interval(text: str) -> timedelta:
    """A Grafana interval such as ``10s``, ``5m`` or ``>1h`` (a minimum) as a timedelta."""
    match = _INTERVAL.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an interval: {text!r} (expected a number and ms, s, m, h, d, w or y)")
    return int(match[1]) * _UNITS[match[2]]


def _format(values: Sequence[str], format_name: str | None, *, in_regex: bool) -> str:
    """Values as Grafana's InfluxDB data source writes them, in the named format or its own."""
    if format_name == "raw":
        return ",".join(values)
    if format_name not in (None, "regex"):
        raise ValueError(f"variable format {format_name!r} is not supported (raw or regex)")
    if len(values) != 1:
        return "(" + "|".join(_escape(value) for value in values) + ")"
    if in_regex or format_name == "regex":
        return _escape(values[0])
    return values[0]


def _escape(value: str) -> str:
    """A value escaped for an InfluxQL regular expression, unless it is meant as written."""
    return value if isinstance(value, Raw) else _REGEX_SPECIAL.sub(r"\\\g<0>", value)


def _values(variable: Mapping[str, Any], override: str | Sequence[str] | None) -> tuple[str, ...]:
    """One variable's chosen values, with All resolved."""
    if override is None:
        current = (variable.get("current") or {}).get("value")
        picked = [] if current is None else [current] if isinstance(current, str) else list(current)
    else:
        picked = [override] if isinstance(override, str) else list(override)
    options = [option["value"] for option in variable.get("options", []) if option.get("value") != ALL]
    if ALL in picked or (not picked and variable.get("includeAll")):
        if variable.get("allValue"):
            return (Raw(variable["allValue"]),)
        picked = options
    elif not picked:
        picked = options[:1]
    if not picked:
        raise ValueError(f"variable {variable['name']!r} has no value to use: pass one")
    return tuple(picked)


def _variables(dashboard: Mapping[str, Any]) -> list[dict[str, Any]]:
    variables: list[dict[str, Any]] = dashboard.get("templating", {}).get("list", [])
    return variables


def _position(panel: Mapping[str, Any]) -> tuple[int, int]:
    grid = panel.get("gridPos", {})
    return grid.get("y", 0), grid.get("x", 0)


def _epoch_ms(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise ValueError(f"{moment} has no time zone: Grafana's time range is absolute")
    return (moment - _EPOCH) // _MILLISECOND
