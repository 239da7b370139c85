"""The dashboards' JSON, without services: the committed files are what the code builds, and the
checks of :mod:`dashboards.checks` find nothing in them (and do find what a broken dashboard breaks)."""

from __future__ import annotations

import copy
import doctest
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dashboards import build, checks, influxql, variables
from dashboards.parts import UIDS

REPOSITORY = Path(__file__).resolve().parents[3]
COMMITTED = REPOSITORY / "dashboards"

Board = dict[str, Any]


@pytest.fixture(scope="module")
def boards() -> list[Board]:
    return build.all_dashboards()


def test_the_committed_files_are_what_the_code_builds(tmp_path: Path) -> None:
    written = build.write(tmp_path)
    for path in written:
        committed = COMMITTED / path.relative_to(tmp_path)
        assert committed.is_file(), f"{committed} is missing: run python -m dashboards.build"
        assert committed.read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), (
            f"{committed} differs from what dashboards/build.py writes: run python -m dashboards.build"
        )
    built = {path.name for path in (tmp_path / "json").iterdir()}
    assert {path.name for path in (COMMITTED / "json").iterdir()} == built


def test_the_output_is_deterministic_sorted_and_indented(tmp_path: Path) -> None:
    first, second = build.write(tmp_path / "first"), build.write(tmp_path / "second")
    assert [path.read_bytes() for path in first] == [path.read_bytes() for path in second]
    for path in first:
        text = path.read_text(encoding="utf-8")
        assert text.endswith("\n") and not text.endswith("\n\n")
        if path.suffix == ".json":
            assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def test_the_five_dashboards_are_built(boards: list[Board]) -> None:
    assert [board["uid"] for board in boards] == list(UIDS)
    for board in boards:
        assert {"uid", "title", "panels", "templating", "links", "annotations"} <= set(board)
        assert board["time"] == {"from": "now-6h", "to": "now"}
        assert board["refresh"] == "30s"


def test_neither_the_built_nor_the_committed_dashboards_have_problems(boards: list[Board]) -> None:
    assert checks.problems(boards) == []
    committed = [json.loads((COMMITTED / "json" / f"{uid}.json").read_text(encoding="utf-8")) for uid in UIDS]
    assert checks.problems(committed) == []


def test_every_variable_offers_all_as_a_regex_not_a_list_of_values(boards: list[Board]) -> None:
    for board in boards:
        for variable in board["templating"].get("list", []):
            assert variable["includeAll"] is True
            assert variable["allValue"] == ".*"
            assert variable["datasource"]["uid"] == influxql.DATASOURCE_UID


def test_the_site_drill_down_chains_its_variables(boards: list[Board]) -> None:
    site = next(board for board in boards if board["uid"] == "openlab-site")
    chain = site["templating"]["list"]
    assert [variable["name"] for variable in chain] == ["district", "owner", "site", "kind", "sensor"]
    for position, variable in enumerate(chain):
        for before in chain[:position]:
            assert f"/^${before['name']}$/" in variable["query"]
    readings = [
        target["query"]
        for panel in checks.panels(site)
        for target in panel.get("targets", [])
        if '"reading"' in target["query"]
    ]
    assert readings and all("$owner" not in query for query in readings), "reading has no owner_id tag"


def test_the_data_source_is_influxql_over_get() -> None:
    source = build.datasource("http://influx.example:8086", "city")
    assert source == {
        "name": "openlab-influxdb",
        "uid": "openlab-influxdb",
        "type": "influxdb",
        "access": "proxy",
        "url": "http://influx.example:8086",
        "database": "city",
        "jsonData": {"version": "InfluxQL", "dbName": "city", "httpMode": "GET"},
    }


def test_provisioning_follows_the_arguments(tmp_path: Path) -> None:
    build.write(tmp_path, influx_url="http://influx.example:8086", database="city")
    text = (tmp_path / "provisioning/datasources/influxdb.yaml").read_text(encoding="utf-8")
    assert "    url: http://influx.example:8086\n" in text
    assert "    database: city\n" in text and "      dbName: city\n" in text
    provider = (tmp_path / "provisioning/dashboards/openlab.yaml").read_text(encoding="utf-8")
    assert "      path: /var/lib/grafana/dashboards\n" in provider and "    folder: openlab\n" in provider


@pytest.mark.parametrize("module", [influxql, variables], ids=lambda module: module.__name__)
def test_the_examples_in_the_docstrings(module: Any) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted and not result.failed


def test_a_query_cannot_name_what_the_pipeline_does_not_write() -> None:
    with pytest.raises(ValueError, match="'site'"):
        influxql.matches("site", "site")


# --- each check reports what breaks it ---------------------------------------------------------------


def _target(query: str = 'SELECT "value" FROM "reading" WHERE $timeFilter', ref_id: str = "A") -> Board:
    return {"refId": ref_id, "query": query, "rawQuery": True, "datasource": influxql.DATASOURCE.to_json()}


def _sound() -> Board:
    """A small dashboard with nothing wrong: a collapsed row holding one panel."""
    query = 'SELECT mean("value") AS "mean" FROM "reading" WHERE "site_id" =~ /^$site$/'
    values = {
        "id": 2,
        "type": "timeseries",
        "title": "Values",
        "description": "What it shows.",
        "datasource": influxql.DATASOURCE.to_json(),
        "targets": [_target(query)],
        "fieldConfig": {
            "defaults": {"links": [{"url": "/d/openlab-city?var-site=${__data.fields.site_id}"}]}
        },
    }
    site = {"name": "site", "type": "query", "query": 'SHOW TAG VALUES WITH KEY = "site_id"'}
    return {
        "uid": "openlab-city",
        "title": "City",
        "tags": ["openlab"],
        "links": [{"type": "dashboards", "tags": ["openlab"], "title": "openlab"}],
        "annotations": {"list": []},
        "templating": {"list": [site]},
        "panels": [{"id": 1, "type": "row", "title": "Row", "collapsed": True, "panels": [values]}],
    }


def _nested(board: Board) -> Board:
    panel: Board = board["panels"][0]["panels"][0]
    return panel


Breakage = Callable[[Board], object]

BREAKAGES: dict[str, tuple[Breakage, Callable[[Board], list[str]], str]] = {
    "a panel id used twice inside a row": (
        lambda board: _nested(board).update(id=1),
        checks.duplicate_panel_ids,
        "panel id 1 is used 2 times",
    ),
    "a panel on another data source": (
        lambda board: _nested(board).update(datasource={"uid": "prometheus"}),
        checks.foreign_datasources,
        "panel 'Values' does not query",
    ),
    "a target on another data source": (
        lambda board: _nested(board)["targets"].append(
            {**_target(ref_id="B"), "datasource": {"uid": "other"}}
        ),
        checks.foreign_datasources,
        "target B does not query",
    ),
    "an undefined ${variable:format}": (
        lambda board: _nested(board).update(title="Values of ${district:csv}"),
        checks.undefined_variables,
        "$district is used",
    ),
    "an undefined [[variable]]": (
        lambda board: _nested(board)["targets"].append(
            _target('SELECT "value" FROM "reading" WHERE [[kind]]')
        ),
        checks.undefined_variables,
        "$kind is used",
    ),
    "a link to a dashboard that does not exist": (
        lambda board: board["links"].append({"type": "link", "url": "/d/openlab-nowhere", "tags": []}),
        lambda board: checks.broken_links(board, UIDS),
        "/d/openlab-nowhere",
    ),
    "a dashboard not tagged openlab": (
        lambda board: board.update(tags=[]),
        checks.untagged,
        "not tagged 'openlab'",
    ),
    "a dashboard not linked to the others": (
        lambda board: board.update(links=[]),
        checks.untagged,
        "no link to the dashboards tagged",
    ),
    "a panel without a description": (
        lambda board: _nested(board).pop("description"),
        checks.undescribed_panels,
        "has no description",
    ),
    "SLIMIT": (
        lambda board: _nested(board)["targets"][0].update(query='SELECT "value" FROM "reading" slimit 10'),
        checks.unsupported_influxql,
        "uses SLIMIT",
    ),
    "a cardinality query in a variable": (
        lambda board: board["templating"]["list"][0].update(query="SHOW SERIES CARDINALITY"),
        checks.unsupported_influxql,
        "uses CARDINALITY",
    ),
    "a field the pipeline does not write": (
        lambda board: _nested(board)["targets"][0].update(query='SELECT mean("valeu") FROM "reading"'),
        checks.unknown_names,
        "names 'valeu'",
    ),
}


def test_a_sound_dashboard_has_no_problems() -> None:
    board = _sound()
    for check in (
        checks.duplicate_panel_ids,
        checks.foreign_datasources,
        checks.undefined_variables,
        checks.untagged,
    ):
        assert check(board) == []
    assert checks.broken_links(board, UIDS) == []
    assert checks.undescribed_panels(board) == []
    assert checks.unsupported_influxql(board) == []
    assert checks.unknown_names(board) == []


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_a_check_reports_what_breaks_it(breakage: str) -> None:
    breaks, check, expected = BREAKAGES[breakage]
    board = copy.deepcopy(_sound())
    breaks(board)
    found = check(board)
    assert any(expected in problem for problem in found), found


def test_builtins_and_alias_patterns_are_not_variables() -> None:
    board = _sound()
    target = _nested(board)["targets"][0]
    target["query"] = (
        'SELECT mean("value") FROM "reading" WHERE $timeFilter GROUP BY time($__interval), "kind"'
    )
    target["alias"] = "$tag_kind $col"
    _nested(board)["links"] = [{"url": "/d/openlab-city?from=${__from}&${__url_time_range}&x=${__value.raw}"}]
    assert checks.undefined_variables(board) == []
    _nested(board)["title"] = "$tag_kind"  # only an alias expands $tag_<key>
    assert checks.undefined_variables(board) == [
        "dashboard 'openlab-city': variable $tag_kind is used but not defined"
    ]


def test_every_expected_dashboard_must_be_there() -> None:
    assert checks.missing_dashboards([_sound()]) == [
        f"dashboard {uid!r} is missing" for uid in UIDS if uid != "openlab-city"
    ]
    assert "dashboard uid 'openlab-city' is used 2 times" in checks.missing_dashboards([_sound(), _sound()])
