"""Replay: JSONL and CSV series into records, their pacing, and a replay's plan, without services."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from sensors.catalog import KINDS
from sensors.reading import Reading
from sensors.replay.pacing import Pacer, schedule
from sensors.replay.records import Replayed, ReplayError, file_kind, jsonl_records, latest_time, merge_by_time
from sensors.replay.series import (
    MappingEntry,
    SeriesTarget,
    csv_series,
    load_mapping,
    mapping_for,
    read_series,
    registry_mismatch,
    resolve_target,
)
from sensors.sites import SiteRegistry
from streams.ingest.replay import plan_replay

# The shared data sets sit beside the repository (here and in CI's fresh clone alike).
NAB = Path(__file__).resolve().parents[4] / "shared" / "data" / "nab" / "data"
CITY = SiteRegistry.generate(count=30, seed=3)
SITE, SENSOR = next(CITY.sensors())
TARGET = SeriesTarget(sensor_id="GJ-00001.traffic_speed", site_id="GJ-00001", kind="traffic_speed")
T0 = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def reading_line(seq: int, at: datetime, value: float = 1.0) -> bytes:
    return (
        Reading(
            sensor_id=SENSOR.sensor_id,
            site_id=SITE.site_id,
            kind=SENSOR.kind,
            value=value,
            unit=SENSOR.unit,
            observed_at=at,
            seq=seq,
        )
        .model_dump_json()
        .encode()
    )


# --- JSONL -------------------------------------------------------------------------------------


def test_jsonl_lines_are_sent_as_they_are_keyed_by_their_sensor() -> None:
    good = reading_line(1, T0)
    lines = [
        good + b"\r\n",
        b"\n",
        b"   \n",
        b'{"sensor_id": "S-9", "value": "12"}\n',  # JSON, not a Reading, has a sensor
        b'{"sensor_id": 7}\n',
        good[: len(good) // 2] + b"\n",  # truncated
        b"\xff\xfe\x00binary\n",
        b"[1, 2]",  # the last line without a newline
    ]
    records = list(jsonl_records(lines))
    assert [r.value for r in records] == [
        good,
        b'{"sensor_id": "S-9", "value": "12"}',
        b'{"sensor_id": 7}',
        good[: len(good) // 2],
        b"\xff\xfe\x00binary",
        b"[1, 2]",
    ]
    assert [r.key for r in records] == [SENSOR.sensor_id.encode(), b"S-9", None, None, None, None]
    assert [r.event_time for r in records] == [T0, None, None, None, None, None]


def test_jsonl_shift_moves_valid_readings_and_leaves_the_rest_alone() -> None:
    bad = b'{"sensor_id": "S-9", "observed_at": "2026-11-28T10:00:00Z"}'
    records = list(jsonl_records([reading_line(1, T0, 2.5), bad], shift=timedelta(days=3)))
    moved = Reading.model_validate_json(records[0].value)
    assert moved.observed_at == T0 + timedelta(days=3) == records[0].event_time
    assert (moved.value, moved.seq, moved.sensor_id) == (2.5, 1, SENSOR.sensor_id)
    assert records[1] == Replayed(b"S-9", bad, None)


# --- CSV series --------------------------------------------------------------------------------


def test_a_csv_series_becomes_readings_with_seq_and_the_canonical_unit() -> None:
    rows = ["timestamp,value\r\n", "2014-04-01 00:00:00,19.5\r\n", "\r\n", "2014-04-01 00:05:00,-3\r\n"]
    records = list(csv_series(rows, TARGET))
    readings = [Reading.model_validate_json(r.value) for r in records]
    assert [r.seq for r in readings] == [1, 2]
    assert [r.value for r in readings] == [19.5, -3.0]
    assert {r.unit for r in readings} == {KINDS["traffic_speed"].unit} == {"km/h"}
    assert {(r.sensor_id, r.site_id, r.kind) for r in readings} == {
        (TARGET.sensor_id, "GJ-00001", "traffic_speed")
    }
    assert [r.observed_at for r in readings] == [
        datetime(2014, 4, 1, tzinfo=UTC),
        datetime(2014, 4, 1, 0, 5, tzinfo=UTC),
    ]
    assert [r.event_time for r in records] == [r.observed_at for r in readings]
    assert {r.key for r in records} == {TARGET.sensor_id.encode()}


def test_naive_timestamps_are_in_the_given_zone_and_offsets_are_kept() -> None:
    rows = ["timestamp,value", "2014-04-01 09:00:00,1", "2014-04-01T09:00:00+02:00,2"]
    seoul = list(csv_series(rows, TARGET, timezone=ZoneInfo("Asia/Seoul")))
    assert [r.event_time for r in seoul] == [
        datetime(2014, 4, 1, 0, tzinfo=UTC),
        datetime(2014, 4, 1, 7, tzinfo=UTC),
    ]
    shifted = list(csv_series(rows, TARGET, shift=timedelta(hours=1)))
    assert shifted[0].event_time == datetime(2014, 4, 1, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            ["time,value", "2014-04-01 00:00:00,1"],
            "s.csv:1: the header is 'time,value', not 'timestamp,value'",
        ),
        (
            ["timestamp,value", "2014-04-01 00:00:00,1", "yesterday,2"],
            "s.csv:3: timestamp 'yesterday' is not ISO 8601",
        ),
        (["timestamp,value", "2014-04-01 00:00:00,nan"], "s.csv:2: value 'nan' is not a finite number"),
        (["timestamp,value", "2014-04-01 00:00:00,"], "s.csv:2: value '' is not a finite number"),
        (["timestamp,value", "2014-04-01 00:00:00"], "s.csv:2: 1 values, not 2 (timestamp,value)"),
        (["timestamp,value", "2014-04-01 00:00:00,1,2"], "s.csv:2: 3 values, not 2"),
        ([], "s.csv: the file is empty; expected a 'timestamp,value' header and rows"),
    ],
)
def test_a_bad_csv_row_names_its_line(rows: list[str], message: str) -> None:
    with pytest.raises(ReplayError) as caught:
        list(csv_series(rows, TARGET, source="s.csv"))
    assert str(caught.value).startswith(message), caught.value


def test_a_real_nab_series_replays_row_for_row() -> None:
    path = NAB / "realTraffic" / "speed_6005.csv"
    if not path.exists():
        pytest.skip(f"the shared NAB data set is not at {path}")
    lines = path.read_text().splitlines()
    assert lines[0] == "timestamp,value"
    expected = [line.split(",") for line in lines[1:]]
    records = list(read_series(path, TARGET))
    assert len(records) == len(expected) == 2500
    readings = [Reading.model_validate_json(r.value) for r in records]
    assert [r.seq for r in readings] == list(range(1, 2501))
    assert [r.value for r in readings] == [float(value) for _, value in expected]
    assert [r.observed_at for r in readings] == [
        datetime.fromisoformat(stamp).replace(tzinfo=UTC) for stamp, _ in expected
    ]
    assert readings[0].observed_at == datetime(2015, 8, 31, 18, 22, tzinfo=UTC)
    assert latest_time(records) == datetime(2015, 9, 17, 16, 24, tzinfo=UTC)
    assert {(r.unit, r.sensor_id) for r in readings} == {("km/h", TARGET.sensor_id)}


def test_every_nab_file_parses() -> None:
    files = sorted(NAB.glob("**/*.csv"))
    if not files:
        pytest.skip(f"the shared NAB data set is not at {NAB}")
    for path in files:
        rows = sum(1 for line in path.read_text().splitlines()[1:] if line.strip())
        assert sum(1 for _ in read_series(path, TARGET)) == rows, path


# --- which sensor a series is ------------------------------------------------------------------


def test_a_registered_sensor_alone_is_enough() -> None:
    assert resolve_target("a.csv", sensor_id=SENSOR.sensor_id, registry=CITY) == SeriesTarget(
        SENSOR.sensor_id, SITE.site_id, SENSOR.kind
    )
    assert resolve_target("a.csv", site_id="X1", kind="humidity") == SeriesTarget(
        "X1.humidity", "X1", "humidity"
    )
    assert resolve_target("a.csv", sensor_id="s", site_id="X1", kind="humidity", unit="%").unit == "%"


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ({"kind": "humidity"}, "a.csv: no sensor for this series: give --sensor"),
        (
            {"sensor_id": "nope"},
            "a.csv: no sensor for this series: give --sensor (a registered one), or --site and",
        ),
        ({"site_id": "X1", "kind": "moisture"}, "a.csv: kind 'moisture' is not in the sensor catalog"),
        ({"site_id": "X 1", "kind": "humidity"}, "a.csv: sensor_id 'X 1.humidity' must be 1 to 64 letters"),
        (
            {"site_id": "X1", "kind": "temperature", "unit": "F"},
            "a.csv: unit 'F' is not temperature's unit 'Cel'",
        ),
    ],
)
def test_an_unresolvable_series_says_what_to_give(given: dict[str, str], message: str) -> None:
    with pytest.raises(ReplayError) as caught:
        resolve_target("a.csv", registry=CITY, **given)
    assert str(caught.value).startswith(message), caught.value


def test_a_series_the_worker_would_reject_is_named() -> None:
    assert registry_mismatch(SeriesTarget(SENSOR.sensor_id, SITE.site_id, SENSOR.kind), CITY) is None
    assert "is not in the registry" in (registry_mismatch(TARGET, SiteRegistry([])) or "")
    other = next(k for k in KINDS if k != SENSOR.kind)
    assert "sensor_mismatch" in (
        registry_mismatch(SeriesTarget(SENSOR.sensor_id, SITE.site_id, other), CITY) or ""
    )


def test_a_mapping_file_maps_by_path_or_name() -> None:
    mapping = load_mapping(
        json.dumps({"speed.csv": {"sensor_id": "A.b"}, "data/x.csv": {"kind": "footfall"}})
    )
    assert mapping_for(mapping, Path("/any/where/speed.csv")) == MappingEntry(sensor_id="A.b")
    assert mapping_for(mapping, Path("data/x.csv")) == MappingEntry(kind="footfall")
    assert mapping_for(mapping, Path("other.csv")) is None
    with pytest.raises(ReplayError, match=r"^m.json: speed.csv.colour: Extra inputs are not permitted"):
        load_mapping('{"speed.csv": {"colour": "red"}}', "m.json")
    with pytest.raises(ReplayError, match=r"^m.json: the file: Input should be an object"):
        load_mapping("[]", "m.json")


def test_file_kinds_come_from_the_suffix() -> None:
    assert [file_kind(Path(p)) for p in ("a.jsonl", "b.NDJSON", "c.csv")] == ["jsonl", "jsonl", "csv"]
    with pytest.raises(ReplayError, match=r"cannot tell the format from the suffix '\.txt'"):
        file_kind(Path("a.txt"))


# --- interleaving and pacing -------------------------------------------------------------------


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_files_are_interleaved_by_event_time() -> None:
    one = [Replayed(b"a", b"a0", at(0)), Replayed(b"a", b"a20", at(20)), Replayed(None, b"junk", None)]
    two = [Replayed(b"b", b"b10", at(10)), Replayed(b"b", b"b20", at(20)), Replayed(b"b", b"b30", at(30))]
    assert [r.value for r in merge_by_time([one, two])] == [b"a0", b"b10", b"a20", b"junk", b"b20", b"b30"]


def test_the_schedule_keeps_the_gaps_divided_by_the_speed() -> None:
    times = [at(0), at(1), at(1), at(61), at(3661)]
    assert schedule(times, speed=1.0, start=50.0) == [50.0, 51.0, 51.0, 111.0, 3711.0]
    assert schedule(times, speed=60.0) == [0.0, 1 / 60, 1 / 60, 61 / 60, 3661 / 60]
    assert schedule(times, speed=0.5) == [0.0, 2.0, 2.0, 122.0, 7322.0]


def test_speed_zero_sends_everything_at_once() -> None:
    assert schedule([at(0), at(1000), None, at(5)], speed=0, start=7.0) == [7.0] * 4


def test_the_schedule_never_runs_backwards() -> None:
    # An out-of-order record, or one without a time, is due at once (with the latest so far).
    assert schedule([None, at(10), at(20), at(5), None, at(25)], speed=1.0) == [
        0.0,
        0.0,
        10.0,
        10.0,
        10.0,
        15.0,
    ]


def test_a_negative_or_infinite_speed_is_refused() -> None:
    for speed in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="speed must be a finite number >= 0"):
            Pacer(speed, 0.0)


# --- planning: every file checked before anything is sent --------------------------------------


def write_series(path: Path, start: datetime, count: int, step: float = 10.0) -> Path:
    stamps = [(start + timedelta(seconds=i * step)).strftime("%Y-%m-%d %H:%M:%S") for i in range(count)]
    path.write_text("timestamp,value\n" + "".join(f"{s},{10 + i}\n" for i, s in enumerate(stamps)))
    return path


def test_a_plan_resolves_series_and_shifts_the_latest_to_now(tmp_path: Path) -> None:
    series = write_series(tmp_path / "speed.csv", T0, 5)
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_bytes(reading_line(1, at(100)) + b"\n" + b"{oops\n")
    now = datetime(2030, 1, 1, tzinfo=UTC)
    plan = plan_replay(
        [series, jsonl],
        registry=CITY,
        mapping={"speed.csv": MappingEntry(sensor_id=SENSOR.sensor_id)},
        timezone=UTC,
        shift_to=now,
    )
    assert plan.targets == {series: SeriesTarget(SENSOR.sensor_id, SITE.site_id, SENSOR.kind)}
    assert plan.shift == now - at(100)
    records = list(plan.records())
    assert latest_time(records) == now
    assert [r.event_time for r in records] == [
        now - timedelta(seconds=100 - s) for s in (0, 10, 20, 30, 40)
    ] + [
        now,
        None,
    ]


def test_a_bad_row_stops_the_plan_before_anything_is_sent(tmp_path: Path) -> None:
    series = write_series(tmp_path / "speed.csv", T0, 3)
    series.write_text(series.read_text() + "2026-11-28 10:01:00,oops\n")
    with pytest.raises(ReplayError, match=r"speed.csv:5: value 'oops' is not a finite number"):
        plan_replay([series], registry=CITY, sensor_id=SENSOR.sensor_id)


# --- into the real Kafka -----------------------------------------------------------------------
