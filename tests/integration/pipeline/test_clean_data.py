"""Clean data on the real Kafka and InfluxDB: duplicates, a flatlined sensor, a silent sensor,
wrong units, sequence gaps and garbage, counted exactly; and duplicates across a worker restart."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
from aiokafka.partitioner import DefaultPartitioner

from sensors.cleaning import DeadLetter, Reason
from sensors.health import HealthEvent, Problem
from sensors.reading import Reading
from sensors.sites import SiteRegistry
from streams.city import load_city
from streams.kafka.topics import read_values
from streams.settings import Settings
from streams.sinks.influx import count_points, influxql
from tests.conftest import WorkerFactory
from tests.feeding import produce, wait_for

START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def event(
    sensor: tuple[str, str, str], seq: int, minute: int, value: float, unit: str
) -> tuple[bytes, bytes]:
    sensor_id, site_id, kind = sensor
    reading = Reading(
        sensor_id=sensor_id,
        site_id=site_id,
        kind=kind,
        value=value,
        unit=unit,
        observed_at=START + timedelta(minutes=minute),
        seq=seq,
    )
    return sensor_id.encode(), reading.model_dump_json().encode()


def sensors_of(city: SiteRegistry, kind: str) -> list[tuple[str, str, str]]:
    return [(s.sensor_id, site.site_id, s.kind) for site, s in city.sensors() if s.kind == kind]


def partition_of(sensor_id: str, partitions: int) -> int:
    every = list(range(partitions))
    return int(DefaultPartitioner()(sensor_id.encode(), every, every))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def values(settings: Settings, topic: str) -> list[bytes]:
    return await read_values(settings, settings.topic(topic))


async def test_exact_counts_of_a_dirty_stream(pipeline_settings: Settings, worker: WorkerFactory) -> None:
    settings = pipeline_settings.model_copy(update={"worker_web_port": free_port(), "metrics_seconds": 1.0})
    city = load_city(settings)
    pm25 = sensors_of(city, "air_pm25")
    normal = pm25[0]
    # The silent sensor shares its partition with the normal one, whose readings move that
    # partition's event time on while the silent one says nothing.
    silent = next(s for s in pm25[1:] if partition_of(s[0], 4) == partition_of(normal[0], 4))
    duplicated, flatlined, gappy, wrong_unit = [s for s in pm25[1:] if s != silent][:4]
    fahrenheit = sensors_of(city, "temperature")[0]

    def series(
        sensor: tuple[str, str, str], minutes: range, unit: str = "ug/m3"
    ) -> list[tuple[bytes, bytes]]:
        return [event(sensor, m + 1, m, 20.0 + 0.37 * m, unit) for m in minutes]

    stream = series(normal, range(30)) + series(duplicated, range(30)) + series(silent, range(10))
    stream += [event(flatlined, m + 1, m, 30.0 if 10 <= m < 25 else 20.0 + m, "ug/m3") for m in range(30)]
    stream += series(gappy, range(20)) + series(gappy, range(23, 30))  # seq 21..23 never sent
    stream += [
        event(wrong_unit, m + 1, m, 10.0 + m, "furlong" if 10 <= m < 13 else "ug/m3") for m in range(30)
    ]
    stream += [event(fahrenheit, m + 1, m, 50.0 + m, "degF") for m in range(30)]
    # As a city sends them: minute by minute (so no partition's time runs ahead of a sensor
    # that is merely later in the list), then ten readings sent again.
    stream.sort(key=lambda item: json.loads(item[1])["observed_at"])
    stream += series(duplicated, range(10, 20))
    garbage = [
        (b"junk", b"{not json"),
        (b"junk", b"\xff\xfe\x00binary"),
        (b"junk", b""),
        (b"junk", b'{"sensor_id": "x"}'),
        (normal[0].encode(), event(normal, 99, 5, 1.0, "ug/m3")[1].replace(b"1.0", b'"1.0"')),
        (normal[0].encode(), event(normal, 98, 5, 1.0, "ug/m3")[1].replace(b"1.0", b"NaN")),
        (b"ghost", event(("XX-0.ghost", "XX", "air_pm25"), 1, 5, 1.0, "ug/m3")[1]),
    ]
    process = worker(settings)
    await produce(settings, stream + garbage)

    async def settled() -> bool:
        cleaned = await values(settings, "readings.clean")
        letters = await values(settings, "readings.deadletter")
        return len(cleaned) >= 184 and len(letters) >= 20 and len(await values(settings, "quality")) >= 5

    await wait_for("the dirty stream to be cleaned", settled)
    await asyncio.sleep(3)  # anything extra would have arrived by now

    clean = [Reading.model_validate_json(v) for v in await values(settings, "readings.clean")]
    assert Counter(r.sensor_id for r in clean) == {
        normal[0]: 30,
        duplicated[0]: 30,
        silent[0]: 10,
        flatlined[0]: 30,
        gappy[0]: 27,
        wrong_unit[0]: 27,
        fahrenheit[0]: 30,
    }
    converted = [r for r in clean if r.sensor_id == fahrenheit[0]]
    assert all(r.unit == "Cel" and "unit_converted:degF" in r.quality for r in converted)
    assert converted[0].value == (50.0 - 32) * 5 / 9
    assert sum("flatline" in r.quality for r in clean) == 15 - 10 + 1

    letters = [DeadLetter.model_validate_json(v) for v in await values(settings, "readings.deadletter")]
    assert Counter(letter.reason for letter in letters) == {
        Reason.DUPLICATE: 10,
        Reason.UNIT_UNKNOWN: 3,
        Reason.NOT_JSON: 3,
        Reason.SCHEMA: 2,
        Reason.NON_FINITE: 1,
        Reason.UNKNOWN_SENSOR: 1,
    }
    assert {letter.key for letter in letters if letter.reason is Reason.DUPLICATE} == {duplicated[0]}

    health = [HealthEvent.model_validate_json(v) for v in await values(settings, "quality")]
    found = Counter((e.sensor_id, e.problem, e.status) for e in health)
    assert found == {
        (flatlined[0], Problem.FLATLINE, "open"): 1,
        (flatlined[0], Problem.FLATLINE, "closed"): 1,
        (silent[0], Problem.STALE, "open"): 1,
        (gappy[0], Problem.GAP, "closed"): 1,
        (wrong_unit[0], Problem.GAP, "closed"): 1,
    }
    by_kind = {(e.sensor_id, e.problem, e.status): e for e in health}
    flat = by_kind[(flatlined[0], Problem.FLATLINE, "closed")]
    assert (flat.start, flat.end, flat.readings) == (
        START + timedelta(minutes=10),
        START + timedelta(minutes=25),
        15,
    )
    stale = by_kind[(silent[0], Problem.STALE, "open")]
    assert (stale.start, stale.end) == (START + timedelta(minutes=9), None)
    gap = by_kind[(gappy[0], Problem.GAP, "closed")]
    assert (gap.readings, gap.start, gap.end) == (
        3,
        START + timedelta(minutes=19),
        START + timedelta(minutes=23),
    )

    # The episodes in InfluxDB: the flatline's closing overwrote its opening.
    async def health_points() -> list[Any]:
        series = await influxql(
            settings, 'SELECT "open", "readings" FROM "sensor_health" GROUP BY "sensor_id", "problem"'
        )
        return series

    async def four_points() -> bool:
        return len(await health_points()) == 4

    await wait_for("four health episodes in InfluxDB", four_points)
    points = {(s["tags"]["sensor_id"], s["tags"]["problem"]): s["values"] for s in await health_points()}
    assert points[(flatlined[0], "flatline")][0][1:] == [False, 15]
    assert points[(silent[0], "stale")][0][1] is True

    # The counters: Prometheus text from the worker's web server, and points in InfluxDB.
    url = f"http://127.0.0.1:{settings.worker_web_port}/metrics"
    async with aiohttp.ClientSession() as session, session.get(url) as answer:
        assert answer.status == 200
        text = await answer.text()
    assert 'openlab_events_total{outcome="rejected",reason="duplicate",stage="clean"} 10.0' in text
    assert 'openlab_events_total{outcome="accepted",reason="",stage="clean"} 184.0' in text
    assert 'openlab_sensor_health_events_total{problem="gap",status="closed"} 2.0' in text

    async def counted() -> bool:
        series = await influxql(
            settings,
            'SELECT sum("events") FROM "pipeline" WHERE "stage" = \'clean\' GROUP BY "outcome", "reason"',
        )
        return {(s["tags"]["outcome"], s["tags"]["reason"]): s["values"][0][1] for s in series} == {
            ("accepted", "none"): 184,
            ("rejected", "duplicate"): 10,
            ("rejected", "unit_unknown"): 3,
            ("rejected", "not_json"): 3,
            ("rejected", "schema"): 2,
            ("rejected", "non_finite"): 1,
            ("rejected", "unknown_sensor"): 1,
        }

    await wait_for("the clean stage's counters in InfluxDB", counted, seconds=30)

    # Still consuming: one more reading goes through.
    await produce(settings, [event(normal, 31, 30, 31.0, "ug/m3")])

    async def one_more() -> bool:
        return len(await values(settings, "readings.clean")) == 185

    await wait_for("one more clean reading", one_more, seconds=30)
    assert process.poll() is None, "the worker must still be running"


async def _duplicates_across_a_restart(
    settings: Settings, worker: WorkerFactory, how: signal.Signals
) -> None:
    city = load_city(settings)
    chosen = sensors_of(city, "air_pm25")[:3]
    batch = [event(s, m + 1, m, 10.0 + 0.5 * m, "ug/m3") for s in chosen for m in range(20)]
    first = worker(settings)
    await produce(settings, batch)

    async def cleaned() -> bool:
        return len(await values(settings, "readings.clean")) >= len(batch)

    await wait_for("the first copy to be cleaned", cleaned)
    first.send_signal(how)
    first.wait(60)
    worker(settings)
    await produce(settings, batch)

    async def refused() -> bool:
        return len(await values(settings, "readings.deadletter")) >= len(batch)

    await wait_for("the second copy to be refused", refused)
    await asyncio.sleep(3)
    letters = [DeadLetter.model_validate_json(v) for v in await values(settings, "readings.deadletter")]
    assert Counter(letter.reason for letter in letters) == {Reason.DUPLICATE: len(batch)}
    records = await values(settings, "readings.clean")
    clean = [Reading.model_validate_json(v) for v in records]
    assert {(r.sensor_id, r.seq) for r in clean} == {
        (json.loads(value)["sensor_id"], json.loads(value)["seq"]) for _, value in batch
    }
    # A batch the first worker had not committed is replayed to its successor: each of its
    # readings passes again, byte for byte the same, and overwrites its own InfluxDB point.
    assert len(set(records)) == len(batch)

    async def written() -> bool:
        return await count_points(settings) == len(batch)

    await wait_for("one point per reading in InfluxDB", written, seconds=30)


async def test_a_restarted_worker_still_refuses_duplicates(
    pipeline_settings: Settings, worker: WorkerFactory
) -> None:
    await _duplicates_across_a_restart(pipeline_settings, worker, signal.SIGTERM)


async def test_a_killed_worker_still_refuses_duplicates(
    pipeline_settings: Settings, worker: WorkerFactory
) -> None:
    await _duplicates_across_a_restart(pipeline_settings, worker, signal.SIGKILL)
