"""Detector checkpoints on the real Kafka: a killed worker's successor scores on from the
checkpoint, and a checkpoint that cannot be read means a fresh detector, not a crash."""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime, timedelta

import pytest

from models.detectors.checkpoint import dump_detector, load_detector
from models.scoring import ScoredReading, detector_for, score_reading
from sensors.reading import Reading
from streams.city import load_city
from streams.kafka.groups import consumer_lag
from streams.kafka.publisher import Publisher
from streams.kafka.topics import read_records, read_values
from streams.pipeline.checkpoints import DetectorCheckpoints
from streams.settings import Settings
from tests.conftest import WorkerFactory
from tests.feeding import produce, wait_for

START = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=1)


def readings(sensors: list[tuple[str, str]], minutes: range) -> list[Reading]:
    return [
        Reading(
            sensor_id=sensor_id,
            site_id=site_id,
            kind="air_pm25",
            value=20.0 + (minute * 7919 % 13) * 0.5 + (5.0 if minute % 97 == 0 else 0.0),
            unit="ug/m3",
            observed_at=START + timedelta(minutes=minute),
            seq=minute + 1,
        )
        for minute in minutes
        for sensor_id, site_id in sensors
    ]


def encoded(items: list[Reading]) -> list[tuple[bytes, bytes]]:
    return [(r.sensor_id.encode(), r.model_dump_json().encode()) for r in items]


async def test_a_killed_worker_successor_scores_on_from_the_checkpoints(
    pipeline_settings: Settings, worker: WorkerFactory
) -> None:
    settings = pipeline_settings.model_copy(update={"checkpoint_seconds": 1.0})
    city = load_city(settings)
    sensors = [(s.sensor_id, site.site_id) for site, s in city.sensors() if s.kind == "air_pm25"][:3]
    before, after = readings(sensors, range(150)), readings(sensors, range(150, 180))
    first = worker(settings)
    await produce(settings, encoded(before))

    async def checkpointed() -> bool:
        latest = {
            key: value
            for _, key, value in await read_records(settings, settings.topic("detectors.checkpoints"))
        }
        loaded = [load_detector(value) for value in latest.values() if value is not None]
        return len(loaded) == 3 and all(d is not None and d.n_seen == 150 for d in loaded)

    async def committed() -> bool:
        return await consumer_lag(settings, settings.app_id, (settings.topic("readings.raw"),)) == 0

    await wait_for("checkpoints of every detector after 150 readings", checkpointed)
    await wait_for("the offsets of readings.raw committed", committed)
    first.send_signal(signal.SIGKILL)
    first.wait(30)

    worker(settings)
    await produce(settings, encoded(after))

    async def scored_all() -> bool:
        return len(await read_values(settings, settings.topic("readings.scored"))) >= len(before) + len(after)

    await wait_for("the readings after the restart to be scored", scored_all)
    scored = [
        ScoredReading.model_validate_json(v)
        for v in await read_values(settings, settings.topic("readings.scored"))
    ]
    # Intermediate topics are at-least-once: a reading replayed after the kill may be scored
    # again. The first score of each reading is the one its restored detector gave.
    resumed: dict[tuple[str, int | None], tuple[float, float, bool]] = {}
    for s in scored:
        if s.seq and s.seq > 150:
            resumed.setdefault((s.sensor_id, s.seq), (s.score, s.probability, s.warming_up))
    assert len(resumed) == len(after)

    # What one detector per sensor that never stopped says of the same readings.
    warm = {sensor_id: detector_for("air_pm25") for sensor_id, _ in sensors}
    cold = {sensor_id: detector_for("air_pm25") for sensor_id, _ in sensors}
    for reading in before:
        score_reading(warm[reading.sensor_id], reading)
    uninterrupted: dict[tuple[str, int | None], tuple[float, float, bool]] = {}
    afresh: dict[tuple[str, int | None], tuple[float, float, bool]] = {}
    for reading in after:
        for detectors, out in ((warm, uninterrupted), (cold, afresh)):
            verdict = score_reading(detectors[reading.sensor_id], reading)
            out[(reading.sensor_id, reading.seq)] = (verdict.score, verdict.probability, verdict.warming_up)
    assert resumed == uninterrupted
    assert resumed != afresh, "a cold start would have scored differently"


async def test_an_unreadable_checkpoint_means_a_fresh_detector_and_a_log_line(
    pipeline_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = pipeline_settings
    topic = settings.topic("detectors.checkpoints")
    good = detector_for("air_pm25")
    publisher = Publisher(settings)
    try:
        await publisher.publish_to_partitions(
            topic,
            {0: [(b"S-good", dump_detector(good)), (b"S-bad", b"openlab-detector 1 garbage\n\x80junk")]},
        )
        checkpoints = DetectorCheckpoints(settings, topic)
        with caplog.at_level(logging.WARNING, logger="streams.pipeline.checkpoints"):
            assert await checkpoints.restore({0}) == 1
    finally:
        await publisher.stop()
    assert set(checkpoints.detectors) == {"S-good"}
    assert "checkpoint of sensor S-bad is unreadable or outdated; it starts afresh" in caplog.text
