"""Checks on dashboard JSON: each returns the problems it finds, as sentences (none: all is well).

They read the JSON Grafana stores (what :func:`dashboards.build.all_dashboards` returns, or a file
of ``dashboards/json``), so they hold for any dashboard, generated or not. :func:`problems` runs
them all over a set of dashboards.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from dashboards.influxql import DATASOURCE_UID, NAMES
from dashboards.parts import TAG, UIDS

Board = dict[str, Any]

BUILT_IN = frozenset({"timeFilter", "interval", "interval_ms", "range", "range_s", "range_ms"})
"""Grafana's variables that need no definition, besides the ``__``-prefixed ones (``$__interval``,
``$__from``, ``${__data.fields.x}``, ``${__url_time_range}``, ...)."""

ALIAS_PATTERN = re.compile(r"^(col|m|measurement|tag_\w+|\d+)$")
"""What the InfluxDB data source expands in a target's ``alias``: ``$col``, ``$m``, ``$tag_<key>``."""

_VARIABLE = re.compile(r"\$(\w+)|\$\{(\w+)(?:[.:][^}]*)?\}|\[\[(\w+)(?::\w+)?\]\]")
_LINK = re.compile(r"/d/([\w-]+)")
_UNSUPPORTED = re.compile(r"\b(SLIMIT|SOFFSET|CARDINALITY)\b", re.IGNORECASE)
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_ALIASED = re.compile(r'\bAS\s+"((?:[^"\\]|\\.)*)"', re.IGNORECASE)


def panels(board: Board) -> Iterator[Board]:
    """Every panel of ``board``, rows and the panels inside collapsed rows included."""
    for each in board.get("panels", []):
        yield each
        yield from each.get("panels", [])


def queries(board: Board) -> Iterator[tuple[str, str]]:
    """Every InfluxQL query of ``board`` (panels, annotations, variables), with where it is."""
    for each in panels(board):
        for target in each.get("targets", []):
            yield f"panel {each.get('title')!r} target {target.get('refId')}", str(target.get("query", ""))
    for annotation in board.get("annotations", {}).get("list", []):
        target = annotation.get("target") or {}
        if "query" in target:
            yield f"annotation {annotation.get('name')!r}", str(target["query"])
    for variable in board.get("templating", {}).get("list", []):
        if isinstance(variable.get("query"), str) and variable.get("type") == "query":
            yield f"variable {variable.get('name')!r}", variable["query"]


def _strings(node: Any, key: str = "") -> Iterator[tuple[str, str]]:
    """Every string in ``node``, with the key it is found under."""
    if isinstance(node, str):
        yield key, node
    elif isinstance(node, dict):
        for child_key, child in node.items():
            yield from _strings(child, str(child_key))
    elif isinstance(node, list):
        for child in node:
            yield from _strings(child, key)


def _where(board: Board) -> str:
    return f"dashboard {board.get('uid')!r}"


def duplicate_panel_ids(board: Board) -> list[str]:
    """Panel ids used twice or more (rows and panels in rows count), or panels without an id."""
    ids = Counter(each.get("id") for each in panels(board))
    found = [f"{_where(board)}: panel id {id_} is used {n} times" for id_, n in ids.items() if n > 1 and id_]
    if None in ids:
        found.append(f"{_where(board)}: {ids[None]} panels have no id")
    return found


def foreign_datasources(board: Board, uid: str = DATASOURCE_UID) -> list[str]:
    """Panels with queries, their queries and the annotations whose data source is not ``uid``."""
    found = []
    for each in panels(board):
        where = f"{_where(board)}: panel {each.get('title')!r}"
        targets = each.get("targets") or []
        if targets and (each.get("datasource") or {}).get("uid") != uid:
            found.append(f"{where} does not query {uid!r}")
        found += [
            f"{where} target {target.get('refId')} does not query {uid!r}"
            for target in targets
            if (target.get("datasource") or {}).get("uid") != uid
        ]
    for annotation in board.get("annotations", {}).get("list", []):
        if not annotation.get("builtIn") and (annotation.get("datasource") or {}).get("uid") != uid:
            found.append(f"{_where(board)}: annotation {annotation.get('name')!r} does not query {uid!r}")
    return found


def undefined_variables(board: Board) -> list[str]:
    """Template variables used (``$var``, ``${var}``, ``${var:format}``, ``[[var]]``) but not defined in
    ``board``'s templating; Grafana's built-ins, and the InfluxDB alias patterns in an ``alias``, are
    not variables."""
    defined = {variable.get("name") for variable in board.get("templating", {}).get("list", [])}
    found = set()
    for key, text in _strings(board):
        for match in _VARIABLE.finditer(text):
            used = next(group for group in match.groups() if group)
            if used.startswith("__") or used in BUILT_IN or used in defined:
                continue
            if key == "alias" and ALIAS_PATTERN.match(used):
                continue
            found.add(used)
    return [f"{_where(board)}: variable ${used} is used but not defined" for used in sorted(found)]


def broken_links(board: Board, uids: Iterable[str]) -> list[str]:
    """Links (dashboard links, panel links, data links) to ``/d/<uid>`` of a dashboard not in ``uids``."""
    known = set(uids)
    found = {match.group(1) for _, text in _strings(board) for match in _LINK.finditer(text)}
    return [f"{_where(board)}: links to /d/{uid}, which is no dashboard" for uid in sorted(found - known)]


def untagged(board: Board, tag: str = TAG) -> list[str]:
    """A dashboard not tagged ``tag``, or without a "dashboards" link to the dashboards tagged ``tag``."""
    found = []
    if tag not in board.get("tags", []):
        found.append(f"{_where(board)}: not tagged {tag!r}")
    if not any(
        link.get("type") == "dashboards" and tag in link.get("tags", []) for link in board.get("links", [])
    ):
        found.append(f"{_where(board)}: no link to the dashboards tagged {tag!r}")
    return found


def undescribed_panels(board: Board) -> list[str]:
    """Panels (not rows) without a description for the operator."""
    return [
        f"{_where(board)}: panel {each.get('title')!r} has no description"
        for each in panels(board)
        if each.get("type") != "row" and not each.get("description")
    ]


def unsupported_influxql(board: Board) -> list[str]:
    """Queries using InfluxQL that InfluxDB 3.x does not answer: SLIMIT, SOFFSET, cardinality queries."""
    return [
        f"{_where(board)}: {where} uses {match.group(1).upper()}"
        for where, query in queries(board)
        for match in _UNSUPPORTED.finditer(query)
    ]


def unknown_names(board: Board, names: Iterable[str] = NAMES) -> list[str]:
    """Double-quoted identifiers in queries that are neither a measurement, tag or field the pipeline
    writes (``sensors.measurements``) nor a column the query itself names (``AS "..."``)."""
    known = set(names)
    found = []
    for where, query in queries(board):
        own = set(_ALIASED.findall(query))
        found += [
            f"{_where(board)}: {where} names {quoted!r}, which the pipeline does not write"
            for quoted in dict.fromkeys(_QUOTED.findall(query))
            if quoted not in known and quoted not in own
        ]
    return found


def missing_dashboards(boards: Sequence[Board], uids: Iterable[str] = UIDS) -> list[str]:
    """Expected dashboards (by uid) that are not among ``boards``, and uids used twice."""
    present = Counter(board.get("uid") for board in boards)
    found = [f"dashboard {uid!r} is missing" for uid in uids if uid not in present]
    return found + [f"dashboard uid {uid!r} is used {n} times" for uid, n in present.items() if n > 1]


def problems(boards: Sequence[Board]) -> list[str]:
    """Every problem every check finds in ``boards``."""
    uids = [board.get("uid", "") for board in boards]
    found = missing_dashboards(boards)
    for board in boards:
        found += duplicate_panel_ids(board)
        found += foreign_datasources(board)
        found += undefined_variables(board)
        found += broken_links(board, uids)
        found += untagged(board)
        found += undescribed_panels(board)
        found += unsupported_influxql(board)
        found += unknown_names(board)
    return found
