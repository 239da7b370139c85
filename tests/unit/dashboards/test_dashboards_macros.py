"""Grafana's macro and variable substitution on small hand-written dashboards: no services needed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dashboards.preview.macros import (
    PanelQuery,
    VariableQuery,
    choose,
    panel_queries,
    parse_interval,
    render,
    round_interval,
    variable_queries,
)

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
END = START + timedelta(hours=6)


def _render(query: str, variables: dict[str, Any] | None = None, **options: Any) -> str:
    return render(query, start=START, end=END, interval=(END - START) / 1000, variables=variables, **options)


def _variable(name: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "type": "query", "query": f'SHOW TAG VALUES WITH KEY = "{name}"', **fields}


def test_time_filter_is_the_range_in_epoch_milliseconds() -> None:
    assert _render("WHERE $timeFilter") == "WHERE time >= 1740830400000ms and time <= 1740852000000ms"


def test_range_macros() -> None:
    rendered = _render("$__from $__to $__range $__range_s $__range_ms")
    assert rendered == "1740830400000 1740852000000 21600s 21600 21600000"


def test_a_time_range_without_a_time_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        render("$timeFilter", start=START.replace(tzinfo=None), end=END, interval=timedelta(seconds=1))


@pytest.mark.parametrize(
    ("raw", "rounded"),
    [
        (timedelta(milliseconds=12), "10ms"),
        (timedelta(seconds=1.4), "1s"),
        (timedelta(seconds=7.4), "5s"),
        (timedelta(seconds=7.5), "10s"),
        (timedelta(seconds=21.6), "20s"),
        (timedelta(seconds=50), "1m"),
        (timedelta(seconds=100), "2m"),
        (timedelta(minutes=4), "5m"),
        (timedelta(minutes=40), "30m"),
        (timedelta(hours=1), "1h"),
        (timedelta(hours=20), "12h"),
        (timedelta(days=3), "1d"),
        (timedelta(days=10), "7d"),
        (timedelta(days=30), "30d"),
        (timedelta(days=400), "1y"),
    ],
)
def test_interval_is_rounded_as_grafana_rounds_it(raw: timedelta, rounded: str) -> None:
    assert render("$__interval", start=START, end=END, interval=raw) == rounded


def test_rounding_keeps_grafanas_own_steps() -> None:
    for step in ("10ms", "1s", "10s", "1m", "2m", "5m", "30m", "1h", "12h", "1d", "1w"):
        assert round_interval(parse_interval(step)) == parse_interval(step)


def test_interval_forms() -> None:
    assert _render("time($__interval) time($interval) $__interval_ms") == "time(20s) time(20s) 20000"


def test_min_interval_wins_over_a_shorter_interval_unrounded() -> None:
    assert _render("$__interval", min_interval=timedelta(minutes=2)) == "2m"
    assert _render("$__interval", min_interval=timedelta(seconds=7)) == "20s"


def test_min_interval_parsing() -> None:
    assert parse_interval(">10s") == timedelta(seconds=10)
    assert parse_interval("1w") == timedelta(days=7)
    with pytest.raises(ValueError, match="not an interval"):
        parse_interval("$__interval")


def test_multiple_values_become_an_escaped_alternation() -> None:
    rendered = _render('"site_id" =~ /^$site$/', {"site": ["s-1", "s.2", "a/b(c)"]})
    assert rendered == r'"site_id" =~ /^(s-1|s\.2|a\/b\(c\))$/'


def test_one_value_is_escaped_only_inside_a_regular_expression() -> None:
    query = """"district" = '$district' AND "site_id" !~ /$district/"""
    assert _render(query, {"district": ["n.1"]}) == r""""district" = 'n.1' AND "site_id" !~ /n\.1/"""


def test_formats() -> None:
    variables = {"site": ["s.1", "s.2"], "kind": ["air.pm25"]}
    assert _render("${site:raw} ${kind:regex} ${kind} [[kind]] [[site:raw]]", variables) == (
        r"s.1,s.2 air\.pm25 air.pm25 air.pm25 s.1,s.2"
    )
    with pytest.raises(ValueError, match="format 'csv'"):
        _render("${kind:csv}", variables)


def test_all_with_a_custom_all_value_stays_as_it_is() -> None:
    dashboard = {"templating": {"list": [_variable("site", multi=True, includeAll=True, allValue=".*")]}}
    chosen = choose(dashboard, {"site": "$__all"})
    assert _render("=~ /^$site$/ AND ${site:regex} AND ${site:raw}", chosen) == "=~ /^.*$/ AND .* AND .*"


def test_longer_names_are_not_clobbered_by_shorter_ones() -> None:
    variables = {"site": ["s1"], "site_id": ["s2"]}
    assert _render("$site_id $site ${site}_id $sites", variables) == "s2 s1 s1_id $sites"


def test_unknown_variables_are_left_for_a_test_to_find() -> None:
    assert (
        _render("$nothing ${nothing} [[nothing]] $__unknown", {})
        == "$nothing ${nothing} [[nothing]] $__unknown"
    )


def test_a_dashboard_variable_named_interval_wins_over_the_macro() -> None:
    assert _render("$interval $__interval", {"interval": ["1h"]}) == "1h 20s"


def test_choose_takes_overrides_then_current_then_all_then_first_option() -> None:
    options = [{"text": "All", "value": "$__all"}, {"text": "a", "value": "a"}, {"text": "b", "value": "b"}]
    dashboard = {
        "templating": {
            "list": [
                _variable("given", current={"value": "x"}),
                _variable("current", current={"text": ["a", "b"], "value": ["a", "b"]}),
                _variable("all", includeAll=True, allValue=".*"),
                _variable("all_options", includeAll=True, options=options, current={"value": "$__all"}),
                _variable("first", options=options[1:]),
            ]
        }
    }
    assert choose(dashboard, {"given": ["y", "z"]}) == {
        "given": ("y", "z"),
        "current": ("a", "b"),
        "all": (".*",),
        "all_options": ("a", "b"),
        "first": ("a",),
    }


def test_choose_refuses_unknown_overrides_and_variables_without_a_value() -> None:
    with pytest.raises(ValueError, match="no variable sitee"):
        choose({"uid": "d", "templating": {"list": [_variable("site")]}}, {"sitee": ["s1"]})
    with pytest.raises(ValueError, match="'site' has no value"):
        choose({"templating": {"list": [_variable("site")]}})


def _panel(panel_id: int, y: int, x: int = 0, **fields: Any) -> dict[str, Any]:
    target = {"refId": "A", "query": f"SELECT {panel_id}", "rawQuery": True, "resultFormat": "time_series"}
    return {
        "id": panel_id,
        "type": "timeseries",
        "title": f"panel {panel_id}",
        "gridPos": {"x": x, "y": y, "w": 12, "h": 8},
        "targets": [target],
        **fields,
    }


def test_panel_queries_walk_rows_in_grid_order_and_annotations() -> None:
    collapsed_row = {
        "type": "row",
        "id": 10,
        "gridPos": {"x": 0, "y": 20, "w": 24, "h": 1},
        "collapsed": True,
    }
    dashboard = {
        "uid": "city",
        "panels": [
            _panel(3, y=30),
            {**collapsed_row, "panels": [_panel(12, y=21, x=12), _panel(11, y=21)]},
            _panel(2, y=0, x=12),
            _panel(1, y=0, x=0, interval="1m"),
            {"id": 4, "type": "text", "title": "About", "gridPos": {"x": 0, "y": 40, "w": 24, "h": 3}},
        ],
        "annotations": {
            "list": [
                {"builtIn": 1, "name": "Annotations & Alerts", "datasource": {"type": "grafana"}},
                {"name": "Alarms", "target": {"query": "SELECT summary FROM alarm WHERE $timeFilter"}},
                {"name": "Old style", "query": "SELECT text FROM events WHERE $timeFilter"},
            ]
        },
    }
    found = panel_queries(dashboard)
    assert [(q.panel_id, q.panel_title) for q in found] == [
        (1, "panel 1"),
        (2, "panel 2"),
        (11, "panel 11"),
        (12, "panel 12"),
        (3, "panel 3"),
        (None, "Alarms"),
        (None, "Old style"),
    ]
    assert found[0] == PanelQuery(
        "city", 1, "panel 1", "timeseries", "A", "SELECT 1", "time_series", parse_interval("1m")
    )
    assert found[1].min_interval is None
    assert found[-2] == PanelQuery(
        "city", None, "Alarms", "annotation", "Anno", "SELECT summary FROM alarm WHERE $timeFilter", "table"
    )


def test_hidden_targets_are_skipped() -> None:
    panel = _panel(1, y=0)
    panel["targets"].append({"refId": "B", "query": "SELECT 2", "rawQuery": True, "hide": True})
    panel["targets"].append({"refId": "C", "query": "SELECT 3", "rawQuery": True, "resultFormat": "table"})
    found = panel_queries({"uid": "d", "panels": [panel]})
    assert [(q.ref_id, q.query, q.result_format) for q in found] == [
        ("A", "SELECT 1", "time_series"),
        ("C", "SELECT 3", "table"),
    ]


def test_a_target_that_is_not_a_raw_query_is_refused() -> None:
    panel = _panel(1, y=0, targets=[{"refId": "A", "measurement": "reading", "rawQuery": False}])
    with pytest.raises(ValueError, match="panel 'panel 1', target 'A': not a raw InfluxQL query"):
        panel_queries({"uid": "d", "panels": [panel]})


def test_variable_queries_and_their_own_variables() -> None:
    district = _variable("district", current={"value": "north"})
    site = {
        "name": "site",
        "type": "query",
        "query": {
            "query": 'SHOW TAG VALUES WITH KEY = "site_id" WHERE "district" =~ /^$district$/',
            "refId": "V",
        },
    }
    dashboard = {"uid": "d", "templating": {"list": [district, site, {"name": "span", "type": "interval"}]}}
    found = variable_queries(dashboard)
    assert found == [
        VariableQuery("d", "district", 'SHOW TAG VALUES WITH KEY = "district"'),
        VariableQuery("d", "site", 'SHOW TAG VALUES WITH KEY = "site_id" WHERE "district" =~ /^$district$/'),
    ]
    chosen = choose(dashboard, {"site": ["s1"], "span": ["1m"]})
    assert _render(found[1].query, chosen).endswith('"district" =~ /^north$/')
