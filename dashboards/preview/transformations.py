"""Grafana's panel transformations, applied to a panel's tables the way Grafana applies them.

A preview draws what a panel shows, which for many panels is not the query's answer itself but
that answer joined, reduced, filtered, grouped, sorted or reorganized by the panel's
``transformations``. :func:`transform` applies those listed in :data:`TRANSFORMS`.

>>> table = [{"status": "critical", "code": 7}, {"status": "minor", "code": 5}, {"status": "critical"}]
>>> fields = {"status": {"operation": "groupby"}, "code": {"operation": "aggregate", "aggregations": ["max"]}}
>>> transform({"transformations": [{"id": "groupBy", "options": {"fields": fields}}]}, [table])
([[{'status': 'critical', 'code (max)': 7.0}, {'status': 'minor', 'code (max)': 5.0}]], None)
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

Row = dict[str, Any]
Table = list[Row]
"""A target's answer as Grafana's table of it: a row per point, tags as columns, time as ``Time``."""
Transform = Callable[[list[Table], Mapping[str, Any]], list[Table]]

TIME = "Time"
"""The name Grafana gives InfluxDB's ``time`` column."""


def transform(panel: Mapping[str, Any], tables: list[Table]) -> tuple[list[Table], str | None]:
    """The tables after the panel's transformations, and the first one not previewed (it and those
    after it are left out), if any."""
    for transformation in panel.get("transformations", []):
        if transformation.get("disabled"):
            continue
        name = transformation.get("id", "")
        try:
            tables = TRANSFORMS[name](tables, transformation.get("options") or {})
        except (KeyError, NotImplementedError):
            return tables, name
    return tables, None


def _join_by_field(tables: list[Table], options: Mapping[str, Any]) -> list[Table]:
    """One table: the rows of all tables with the same value of ``byField`` merged (an outer join)."""
    key = options.get("byField", TIME)
    joined: dict[Any, Row] = {}
    for row in (row for table in tables for row in table):
        joined.setdefault(row.get(key), {}).update(row)
    return [list(joined.values())]


def _reduce(tables: list[Table], options: Mapping[str, Any]) -> list[Table]:
    """Each table as one row, each of its fields reduced (``reduceFields`` mode only)."""
    if options.get("mode") != "reduceFields":
        raise NotImplementedError
    calc = (options.get("reducers") or ["lastNotNull"])[0]
    keep_time = options.get("includeTimeField", False)
    return [
        [
            {
                column: reduce_values(calc, [row.get(column) for row in table])
                for column in column_names(table)
                if column != TIME or keep_time
            }
        ]
        for table in tables
    ]


def _calculate_field(tables: list[Table], options: Mapping[str, Any]) -> list[Table]:
    """A new column from two others (``binary``) or from a row's columns reduced (``reduceRow``)."""
    mode = options.get("mode", "reduceRow")
    if mode == "binary":
        binary = options["binary"]
        operator = _OPERATORS[binary.get("operator", "+")]

        def value_of(row: Row) -> Any:
            left, right = _operand(row, binary.get("left")), _operand(row, binary.get("right"))
            return None if left is None or right is None else operator(left, right)

    elif mode == "reduceRow":
        reduce = options.get("reduce", {})
        zero = reduce.get("nullValueMode") == "null as zero"

        def value_of(row: Row) -> Any:
            included = reduce.get("include") or [key for key in row if key != TIME]
            values = [0 if zero and row.get(key) is None else row.get(key) for key in included]
            return reduce_values(reduce.get("reducer", "sum"), values)

    else:
        raise NotImplementedError
    alias = options.get("alias") or mode
    if options.get("replaceFields"):
        return [[{alias: value_of(row)} for row in table] for table in tables]
    return [[{**row, alias: value_of(row)} for row in table] for table in tables]


def _operand(row: Row, side: Any) -> float | None:
    """One side of a binary calculation: a fixed number, or a column named by a matcher or by text."""
    if isinstance(side, Mapping):
        if "fixed" in side:
            return float(side["fixed"])
        side = side.get("matcher", {}).get("options")
    if side in row:
        return as_number(row[side])
    try:
        return float(side)
    except (TypeError, ValueError):
        return None


def _filter_by_value(tables: list[Table], options: Mapping[str, Any]) -> list[Table]:
    """The rows for which any (or all) of the filters hold, kept (``include``) or dropped."""
    filters = [
        (rule["fieldName"], _CONDITIONS[rule["config"]["id"]], rule["config"].get("options", {}).get("value"))
        for rule in options.get("filters", [])
    ]
    combine = all if options.get("match") == "all" else any
    keep = options.get("type", "include") == "include"
    return [
        [
            row
            for row in table
            if combine(holds(row.get(field), value) for field, holds, value in filters) == keep
        ]
        for table in tables
    ]


def _group_by(tables: list[Table], options: Mapping[str, Any]) -> list[Table]:
    """A row per value of the ``groupby`` fields, with the ``aggregate`` fields as ``name (calc)``."""
    fields = options.get("fields", {})
    keys = [name for name, field in fields.items() if field.get("operation") == "groupby"]
    aggregates = [
        (name, calc)
        for name, field in fields.items()
        if field.get("operation") == "aggregate"
        for calc in field.get("aggregations", [])
    ]
    grouped_tables = []
    for table in tables:
        groups: dict[tuple[Any, ...], Table] = defaultdict(list)
        for row in table:
            groups[tuple(row.get(key) for key in keys)].append(row)
        grouped_tables.append(
            [
                dict(zip(keys, key, strict=True))
                | {
                    f"{name} ({calc})": reduce_values(calc, [row.get(name) for row in rows])
                    for name, calc in aggregates
                }
                for key, rows in groups.items()
            ]
        )
    return grouped_tables


def _sort_by(tables: list[Table], options: Mapping[str, Any]) -> list[Table]:
    """The rows sorted by the first sort field, rows without it last."""
    order = (options.get("sort") or [{}])[0]
    field, descending = order.get("field"), bool(order.get("desc"))
    return [
        sorted(
            (row for row in table if row.get(field) is not None),
            key=lambda row: row[field],
            reverse=descending,
        )
        + [row for row in table if row.get(field) is None]
        for table in tables
    ]


def _organize(tables: list[Table], options: Mapping[str, Any]) -> list[Table]:
    """Columns left out (``excludeByName``), put in order (``indexByName``) and renamed."""
    excluded = {name for name, out in options.get("excludeByName", {}).items() if out}
    index = options.get("indexByName", {})
    renamed = options.get("renameByName", {})

    def organized(row: Row) -> Row:
        kept = sorted((key for key in row if key not in excluded), key=lambda key: index.get(key, len(index)))
        return {renamed.get(key) or key: row[key] for key in kept}

    return [[organized(row) for row in table] for table in tables]


def _limit(tables: list[Table], options: Mapping[str, Any]) -> list[Table]:
    """The first ``limitField`` rows."""
    return [table[: int(options.get("limitField", 10))] for table in tables]


TRANSFORMS: dict[str, Transform] = {
    "joinByField": _join_by_field,
    "reduce": _reduce,
    "calculateField": _calculate_field,
    "filterByValue": _filter_by_value,
    "groupBy": _group_by,
    "sortBy": _sort_by,
    "organize": _organize,
    "limit": _limit,
}
"""The Grafana transformations a preview applies, by id, each on the panel's tables."""

_OPERATORS: dict[str, Callable[[float, float], float | None]] = {
    "+": lambda left, right: left + right,
    "-": lambda left, right: left - right,
    "*": lambda left, right: left * right,
    "/": lambda left, right: left / right if right else None,
}
_CONDITIONS: dict[str, Callable[[Any, Any], bool]] = {
    "greater": lambda value, limit: _compare(value, limit) > 0,
    "greaterOrEqual": lambda value, limit: _compare(value, limit) >= 0,
    "lower": lambda value, limit: _compare(value, limit) < 0,
    "lowerOrEqual": lambda value, limit: _compare(value, limit) <= 0,
    "equal": lambda value, other: value == other,
    "notEqual": lambda value, other: value != other,
    "isNull": lambda value, _: value is None,
    "isNotNull": lambda value, _: value is not None,
}
"""Grafana's filter-by-value conditions, on a value and the filter's own value."""

_CALCULATIONS: dict[str, Callable[[list[Any]], Any]] = {
    "lastNotNull": lambda values: values[-1],
    "last": lambda values: values[-1],
    "firstNotNull": lambda values: values[0],
    "first": lambda values: values[0],
    "count": len,
    "distinctCount": lambda values: len(set(values)),
    "sum": lambda values: math.fsum(_numbers(values)),
    "mean": lambda values: math.fsum(_numbers(values)) / len(_numbers(values)) if _numbers(values) else None,
    "max": lambda values: max(_numbers(values), default=None),
    "min": lambda values: min(_numbers(values), default=None),
}
"""Grafana's reducers (``reduceOptions.calcs``, ``reduce``, ``groupBy``), on values that are not null."""


def reduce_values(calc: str, values: list[Any]) -> Any:
    """``values`` reduced by Grafana's reducer ``calc``, nulls left out (None when all are null)."""
    present = [value for value in values if value is not None]
    return _CALCULATIONS[calc](present) if present else None


def _compare(value: Any, limit: Any) -> float:
    """Below zero when ``value`` is below ``limit``; NaN (every comparison false) when either is no number."""
    number, bound = as_number(value), as_number(limit)
    return math.nan if number is None or bound is None else number - bound


def _numbers(values: list[Any]) -> list[float]:
    return [number for number in map(as_number, values) if number is not None]


def as_number(value: Any) -> float | None:
    """A number (a boolean as 0 or 1) as a float; anything else (text, null) as None."""
    if isinstance(value, bool | int | float):
        return float(value)
    return None


def column_names(table: Table) -> list[str]:
    """Every column of a table, in the order they first appear."""
    return list(dict.fromkeys(column for row in table for column in row))
