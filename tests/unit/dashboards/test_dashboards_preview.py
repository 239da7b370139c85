"""Dashboard previews drawn from canned InfluxDB answers, a panel of each type, and Grafana's
transformations on small tables: no services needed."""

from __future__ import annotations

import json
import re
import struct
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest

from dashboards.preview.draw import QueryError, influx_query, preview
from dashboards.preview.panels import Series
from dashboards.preview.transformations import Table, transform

START = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
END = START + timedelta(hours=6)
HOURS = [int((START + timedelta(hours=hour)).timestamp() * 1000) for hour in range(7)]


def _series(name: str, columns: list[str], values: list[list[Any]], **tags: str) -> Series:
    return {"name": name, "tags": tags, "columns": ["time", *columns], "values": values}


ANSWERS: dict[str, list[Series]] = {
    "readings": [_series("readings", ["count"], [[HOURS[0], 455_329]])],
    "nothing": [],
    "means": [
        _series(
            "means",
            ["mean"],
            [[time, site + hour / 2] for hour, time in enumerate(HOURS)],
            site_id=f"s{site}",
        )
        for site in range(8)
    ],
    "taken": [_series("taken", ["taken in"], [[time, 100] for time in HOURS])],
    "rejected": [_series("rejected", ["dead-lettered"], [[time, 1] for time in HOURS])],
    "statuses": [
        _series("statuses", ["code", "status"], [[0, code, status]], sensor_id=f"n{number}")
        for number, (code, status) in enumerate(
            [(7, "critical"), (7, "critical"), (5, "minor"), (0, "normal")]
        )
    ],
    "kinds": [
        _series("kinds", ["count"], [[0, count]], kind=kind)
        for kind, count in [("air_pm25", 40), ("noise", 30), ("traffic_flow", 20), ("solar_power", 0)]
    ],
    "alarms": [
        _series("alarms", ["summary", "state"], [[0, f"PM2.5 high at s{n}", "open"]], site_id=f"s{n}")
        for n in range(12)
    ],
    "sites": [
        _series(
            "sites",
            ["code", "stale", "flatline", "latitude", "longitude"],
            [[0, n % 8, n % 5 == 0, None, 35.1 + n / 400, 126.8 + (n * 7 % 30) / 200]],
            site_id=f"s{n}",
        )
        for n in range(40)
    ],
    "codes": [_series("codes", ["last"], [[time, hour % 3] for hour, time in enumerate(HOURS)])],
}
"""What InfluxDB answers each panel's query, by the measurement it reads."""

DEAD_LETTERED = [
    {"id": "joinByField", "options": {"byField": "Time", "mode": "outer"}},
    {"id": "reduce", "options": {"mode": "reduceFields", "reducers": ["sum"]}},
    {
        "id": "calculateField",
        "options": {
            "alias": "share",
            "mode": "binary",
            "replaceFields": True,
            "binary": {
                "left": {"matcher": {"id": "byName", "options": "dead-lettered"}},
                "operator": "/",
                "right": {"matcher": {"id": "byName", "options": "taken in"}},
            },
        },
    },
]
BY_SEVERITY = [
    {
        "id": "filterByValue",
        "options": {
            "filters": [{"fieldName": "code", "config": {"id": "greaterOrEqual", "options": {"value": 3}}}],
            "match": "any",
            "type": "include",
        },
    },
    {
        "id": "groupBy",
        "options": {
            "fields": {
                "status": {"operation": "groupby"},
                "sensor_id": {"operation": "aggregate", "aggregations": ["count"]},
            }
        },
    },
    {"id": "sortBy", "options": {"sort": [{"field": "sensor_id (count)", "desc": True}]}},
    {"id": "organize", "options": {"renameByName": {"sensor_id (count)": "active alarms"}}},
]


def _panel(
    panel_id: int, kind: str, measurement: str, x: int, y: int, w: int = 8, h: int = 8, **fields: Any
) -> dict[str, Any]:
    query = f'SELECT * FROM "{measurement}" WHERE $timeFilter AND "site_id" =~ /^$site$/'
    query += " GROUP BY time($__interval)"
    return {
        "id": panel_id,
        "type": kind,
        "title": f"{kind} of {measurement}",
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "targets": [{"refId": "A", "query": query, "rawQuery": True}] if measurement else [],
        **fields,
    }


def _dashboard() -> dict[str, Any]:
    """A panel of each type, one that gets no data, transformations, a text and a collapsed row."""
    dead_lettered = _panel(3, "stat", "taken", 8, 0, w=4, h=4, transformations=DEAD_LETTERED)
    dead_lettered["targets"].append(
        {
            "refId": "B",
            "query": dead_lettered["targets"][0]["query"].replace("taken", "rejected"),
            "rawQuery": True,
        }
    )
    dead_lettered["fieldConfig"] = {"defaults": {"unit": "percentunit"}}
    return {
        "uid": "hand",
        "title": "Hand-made",
        "templating": {"list": [{"name": "site", "type": "query", "includeAll": True, "allValue": ".*"}]},
        "panels": [
            _panel(1, "stat", "readings", 0, 0, w=4, h=4),
            _panel(2, "stat", "nothing", 4, 0, w=4, h=4),
            dead_lettered,
            _panel(4, "timeseries", "means", 12, 0, w=12),
            _panel(
                5,
                "bargauge",
                "statuses",
                0,
                8,
                options={"reduceOptions": {"values": True}},
                transformations=BY_SEVERITY,
            ),
            _panel(6, "piechart", "kinds", 8, 8),
            _panel(7, "table", "alarms", 16, 8),
            _panel(8, "geomap", "sites", 0, 16, w=12),
            _panel(
                9, "state-timeline", "codes", 12, 16, w=12, transformations=[{"id": "merge", "options": {}}]
            ),
            _panel(
                10,
                "text",
                "",
                0,
                24,
                w=24,
                h=3,
                title="About",
                options={"content": "# Hand-made\nDrawn from **canned** answers, see [tests](tests)."},
            ),
            {
                "type": "row",
                "id": 11,
                "title": "More",
                "gridPos": {"x": 0, "y": 27, "w": 24, "h": 1},
                "panels": [_panel(12, "barchart", "kinds", 0, 28, w=24)],
            },
        ],
    }


class _Canned:
    """A query function answering from :data:`ANSWERS`, recording what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def __call__(self, query: str) -> list[Series]:
        self.asked.append(query)
        measurement = re.search(r'FROM "(\w+)"', query)
        assert measurement, query
        return ANSWERS[measurement[1]]


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", header[16:24])
    return width, height


def test_every_panel_type_is_drawn_into_a_png(tmp_path: Path) -> None:
    query = _Canned()
    path = preview(_dashboard(), query, tmp_path / "previews", start=START, end=END)
    assert path == tmp_path / "previews" / "hand.png"
    width, height = _png_size(path)
    assert 1000 <= width <= 2000 and 600 <= height <= 3000
    assert len(query.asked) == 11  # each target of each panel but the text, the collapsed row's too
    assert not [text for text in query.asked if re.search(r"\$\w|\[\[", text)], "a variable left in a query"
    assert (
        'WHERE time >= 1740830400000ms and time <= 1740852000000ms AND "site_id" =~ /^.*$/' in query.asked[0]
    )
    assert query.asked[0].endswith("GROUP BY time(30s)")  # six hours over 500 points, rounded


def test_variables_override_the_current_values(tmp_path: Path) -> None:
    query = _Canned()
    preview(_dashboard(), query, tmp_path, start=START, end=END, variables={"site": ["s.1", "s2"]})
    assert all(r'"site_id" =~ /^(s\.1|s2)$/' in text for text in query.asked)


def test_a_failing_query_raises_noting_its_panel(tmp_path: Path) -> None:
    def query(text: str) -> list[Series]:
        if "statuses" in text:
            raise QueryError("InfluxDB: undefined function lastt()")
        return _Canned()(text)

    with pytest.raises(QueryError, match="lastt") as raised:
        preview(_dashboard(), query, tmp_path, start=START, end=END)
    assert "panel 'bargauge of statuses', target 'A': SELECT * FROM \"statuses\"" in raised.value.__notes__[0]
    assert not (tmp_path / "hand.png").exists()


def _tables(*measurements: str) -> list[Table]:
    """The measurements' answers as the preview's tables: tags as columns, time as ``Time``."""
    return [
        [
            {**one["tags"], **dict(zip(["Time", *one["columns"][1:]], values, strict=True))}
            for one in ANSWERS[measurement]
            for values in one["values"]
        ]
        for measurement in measurements
    ]


def test_join_reduce_and_a_binary_calculation() -> None:
    tables, skipped = transform({"transformations": DEAD_LETTERED}, _tables("taken", "rejected"))
    assert (tables, skipped) == ([[{"share": 0.01}]], None)


def test_filter_group_sort_and_organize() -> None:
    tables, _ = transform({"transformations": BY_SEVERITY}, _tables("statuses"))
    assert tables == [[{"status": "critical", "active alarms": 2}, {"status": "minor", "active alarms": 1}]]


def test_a_row_reduced_with_nulls_as_zero_then_columns_left_out_and_limited() -> None:
    reduce = {"include": ["code", "stale", "flatline"], "reducer": "max", "nullValueMode": "null as zero"}
    state = {"alias": "state", "mode": "reduceRow", "reduce": reduce}
    transformations = [
        {"id": "calculateField", "options": state},
        {
            "id": "organize",
            "options": {"excludeByName": {"Time": True, "code": True, "stale": True, "flatline": True}},
        },
        {"id": "sortBy", "options": {"sort": [{"field": "state", "desc": True}]}},
        {"id": "limit", "options": {"limitField": 2}},
    ]
    tables, _ = transform({"transformations": transformations}, _tables("sites"))
    assert [row["state"] for row in tables[0]] == [7, 7]
    assert set(tables[0][0]) == {"site_id", "latitude", "longitude", "state"}


def test_a_transformation_not_previewed_stops_the_rest() -> None:
    transformations = [
        {"id": "limit", "options": {"limitField": 1}, "disabled": True},
        {"id": "seriesToRows", "options": {}},
        {"id": "limit", "options": {"limitField": 1}},
    ]
    tables = _tables("kinds")
    assert transform({"transformations": transformations}, tables) == (tables, "seriesToRows")


class _FakeInflux(BaseHTTPRequestHandler):
    """Answers /query as InfluxDB 1.8 does: series, a statement's error, or a refused request."""

    def do_GET(self) -> None:
        parameters = parse_qs(urlparse(self.path).query)
        statement = parameters["q"][0]
        assert parameters["db"] == ["openlab"] and parameters["epoch"] == ["ms"]
        assert self.headers["Authorization"] == "Token reader:secret"
        answer: dict[str, Any]
        if statement.startswith("SELECT"):
            status, answer = 200, {"results": [{"statement_id": 0, "series": ANSWERS["readings"]}]}
        elif statement.startswith("SHOW"):
            status, answer = 200, {"results": [{"statement_id": 0, "error": "database not found: openlab"}]}
        else:
            status, answer = 400, {"error": "error parsing query: found BAD, expected SELECT"}
        body = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def fake_influx() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _FakeInflux)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()


def test_influx_query_returns_series_and_raises_influxdbs_errors(fake_influx: str) -> None:
    query = influx_query(fake_influx, "openlab", "reader:secret")
    assert query("SELECT count FROM readings") == ANSWERS["readings"]
    with pytest.raises(QueryError, match="database not found: openlab in query: SHOW"):
        query("SHOW TAG VALUES WITH KEY = site_id")
    with pytest.raises(QueryError, match="error parsing query: found BAD"):
        query("BAD")


def test_influx_query_says_when_influxdb_cannot_be_reached() -> None:
    with pytest.raises(QueryError, match="cannot be reached"):
        influx_query("http://127.0.0.1:9", "openlab")("SELECT 1")
