"""Replay into the real Kafka: exactly the files' records, or nothing."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from sensors.reading import Reading
from sensors.replay.series import SeriesTarget, read_series
from streams.city import load_city
from streams.ingest.replay import replay
from streams.kafka.topics import read_records
from streams.settings import Settings
from tests.unit.sensors.test_replay import T0, write_series


@pytest.mark.services
def test_replay_sends_exactly_the_files_records_to_readings_raw(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    settings = pipeline_settings
    city = load_city(settings)
    site, sensor = next(city.sensors())
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    series = write_series(tmp_path / "series.csv", start.replace(tzinfo=None), 5, step=10.0)  # 40 s of events
    others = [  # readings of three other sensors, 15 to 35 s into the series
        Reading(
            sensor_id=other.sensor_id,
            site_id=other_site.site_id,
            kind=other.kind,
            value=1.0 + n,
            unit=other.unit,
            observed_at=start + timedelta(seconds=15 + 10 * n),
            seq=n,
        )
        .model_dump_json()
        .encode()
        for n in range(3)
        for other_site, other in list(city.sensors())[1:4]
    ]
    malformed = [b"{not json", b'{"sensor_id": "GJ-00002.x", "value": 1}']
    jsonl = tmp_path / "events.jsonl"
    jsonl.write_bytes(b"\n".join(others + malformed) + b"\n\n")

    env = {**settings.as_environment(), "OPENLAB_REGISTRY_FILE": None}
    began = time.monotonic()
    result = CliRunner().invoke(
        replay,
        [str(series), str(jsonl), "--sensor", sensor.sensor_id, "--speed", "20"],
        env=env,
        catch_exceptions=False,
    )
    took = time.monotonic() - began
    assert result.exit_code == 0, result.output
    assert "replayed 16 records from 2 file(s)" in result.output
    assert "2 are not valid Readings" in result.output
    assert 1.8 <= took < 30, took  # 40 event-seconds at 20 per second: 2 s

    expected_series = list(read_series(series, SeriesTarget(sensor.sensor_id, site.site_id, sensor.kind)))
    expected = Counter(
        [(r.key, r.value) for r in expected_series]
        + [(Reading.model_validate_json(v).sensor_id.encode(), v) for v in others]
        + [(None, malformed[0]), (b"GJ-00002.x", malformed[1])]
    )
    records = asyncio.run(read_records(settings, settings.topic("readings.raw")))
    assert Counter((key, value) for _, key, value in records) == expected
    # One sensor's readings stay in order on one partition.
    mine = [Reading.model_validate_json(v or b"") for _, k, v in records if k == sensor.sensor_id.encode()]
    assert [(r.seq, r.value) for r in mine] == [(1, 10.0), (2, 11.0), (3, 12.0), (4, 13.0), (5, 14.0)]


@pytest.mark.services
def test_replay_refuses_a_series_without_a_sensor_and_sends_nothing(
    pipeline_settings: Settings, tmp_path: Path
) -> None:
    settings = pipeline_settings
    series = write_series(tmp_path / "series.csv", T0, 3)
    env = {**settings.as_environment(), "OPENLAB_REGISTRY_FILE": None}
    result = CliRunner().invoke(replay, [str(series)], env=env)
    assert result.exit_code == 1
    assert f"{series}: no sensor for this series: give --sensor" in result.output
    assert asyncio.run(read_records(settings, settings.topic("readings.raw"))) == []
