"""The MQTT gateway against the real mosquitto and Kafka of the local stack.

The gateway runs as a process (``python -m streams.ingest.mqtt_gateway``), stopped with SIGTERM as an
operator would. Each test has its own Kafka topics (``pipeline_settings``), its own MQTT topic
prefix, and its own gateway login (which is its client id) and device login; its session is
removed from the broker and its logins from the devices folder at the end.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from aiokafka import AIOKafkaConsumer

from sensors.cleaning import DeadLetter, Reason
from sensors.reading import Reading
from streams import stack
from streams.ingest.mqtt_gateway import check, sensor_key
from streams.ingest.mqtt_source import topic_filter
from streams.kafka.clients import aiokafka_options
from streams.kafka.topics import count_records, end_offsets
from streams.settings import Settings
from tests.conftest import GatewayFactory, Message, Publish, gateway_log, stop_gateway, wait_for_gateway_log
from tests.feeding import city_events, wait_for


@dataclass(frozen=True)
class KafkaRecord:
    partition: int
    offset: int
    key: bytes | None
    value: bytes


@dataclass(frozen=True)
class Malformed:
    topic: str
    payload: bytes
    reason: Reason
    detail: str
    """A part of the dead letter's detail."""


# Pure checks, no services.


def test_check_accepts_a_reading_on_its_own_topic_and_names_any_disagreement() -> None:
    reading = _reading("S0007", "S0007-air_pm25", 3)
    payload = reading.model_dump_json().encode()
    assert check("run1/", "run1/city/S0007/S0007-air_pm25", payload) == reading
    for topic, named in [
        ("run1/city/S0008/S0007-air_pm25", "site 'S0008', sensor 'S0007-air_pm25'"),
        ("run1/city/S0007/S0007-noise", "site 'S0007', sensor 'S0007-noise'"),
    ]:
        rejection = check("run1/", topic, payload)
        assert not isinstance(rejection, Reading)
        assert rejection.reason is Reason.SCHEMA
        assert f"is {named}, but the payload is site 'S0007', sensor 'S0007-air_pm25'" in rejection.detail
    for topic in ["run1/city//S0007-air_pm25", "run1/city/S0007/", "run1/city/S0007/a/b", "run1/town/a/b"]:
        rejection = check("run1/", topic, payload)
        assert not isinstance(rejection, Reading)
        assert (rejection.reason, rejection.detail) == (
            Reason.SCHEMA,
            f"MQTT topic {topic!r} is not city/<site_id>/<sensor_id>",
        )
    assert sensor_key("run1/", "run1/city/S0007/S0007-air_pm25") == b"S0007-air_pm25"
    assert sensor_key("run1/", "run1/city/S0007/") is None
    assert topic_filter(Settings(mqtt_topic_prefix="run1/")) == "run1/city/+/+"


# The real broker and Kafka.


async def test_valid_readings_arrive_once_in_order_and_malformed_ones_as_dead_letters(
    mqtt_settings: Settings, gateway: GatewayFactory, publish: Publish, tmp_path: Path
) -> None:
    settings = mqtt_settings
    valid = _city_messages(settings, 600)
    malformed = _malformed(settings, valid)
    messages = list(valid)
    for index, bad in enumerate(malformed):  # spread among the valid ones
        messages.insert(40 + 70 * index, (bad.topic, bad.payload))

    process = gateway()
    started = time.monotonic()
    await asyncio.to_thread(publish, messages)
    await _wait_for_counts(settings, raw=len(valid), dead=len(malformed))
    elapsed = time.monotonic() - started

    await _assert_forwarded_once_in_order(settings, valid)
    await _assert_dead_letters(settings, malformed)
    assert stop_gateway(process) == 0
    summary = gateway_log(tmp_path / "gateway.log").splitlines()[-1]
    assert summary.startswith(
        f"gateway stopped: forwarded {len(valid)} readings, dead-lettered {len(malformed)} ("
    )
    print(f"{len(messages)} messages published and forwarded in {elapsed:.2f} s")


async def test_messages_published_while_the_gateway_is_down_arrive_when_it_is_back(
    mqtt_settings: Settings, gateway: GatewayFactory, publish: Publish, tmp_path: Path
) -> None:
    settings = mqtt_settings
    valid = _city_messages(settings, 500)
    first, later = valid[:200], valid[200:]
    not_json = Malformed(later[0][0], b'{"sensor_id": ', Reason.NOT_JSON, "not JSON")

    process = gateway()
    await asyncio.to_thread(publish, first)
    await _wait_for_counts(settings, raw=len(first), dead=0)
    assert stop_gateway(process) == 0

    # The gateway is down: the broker queues for its session.
    await asyncio.to_thread(publish, [*later, (not_json.topic, not_json.payload)])
    await asyncio.sleep(1)
    assert await _counts(settings) == (len(first), 0)

    gateway()
    assert "(session resumed)" in gateway_log(tmp_path / "gateway.log").split("gateway stopped")[-1]
    await _wait_for_counts(settings, raw=len(valid), dead=1)
    await _assert_forwarded_once_in_order(settings, valid)
    await _assert_dead_letters(settings, [not_json])


async def test_a_broker_restart_loses_nothing(
    mqtt_settings: Settings, gateway: GatewayFactory, publish: Publish, tmp_path: Path
) -> None:
    settings = mqtt_settings
    valid = _city_messages(settings, 450)
    first, queued, after = valid[:100], valid[100:300], valid[300:]

    process = gateway()
    await asyncio.to_thread(publish, first)
    await _wait_for_counts(settings, raw=len(first), dead=0)
    assert stop_gateway(process) == 0
    await asyncio.to_thread(publish, queued)

    # Messages queued for the absent gateway survive a broker restart (persistence).
    _restart_broker(settings)
    process = gateway()
    await _wait_for_counts(settings, raw=len(first) + len(queued), dead=0)

    # A running gateway reconnects to a restarted broker, and subscribes again.
    _restart_broker(settings)
    await asyncio.to_thread(wait_for_gateway_log, tmp_path / "gateway.log", "subscribed to ", 3, process)
    await asyncio.to_thread(publish, after)
    await _wait_for_counts(settings, raw=len(valid), dead=0)
    assert process.poll() is None, "the gateway must ride out the broker restart"
    await _assert_forwarded_once_in_order(settings, valid)


async def test_a_kafka_outage_loses_nothing(
    mqtt_settings: Settings, gateway: GatewayFactory, publish: Publish
) -> None:
    settings = mqtt_settings
    valid = _city_messages(settings, 400)
    process = gateway()
    await asyncio.to_thread(publish, valid[:100])
    await _wait_for_counts(settings, raw=100, dead=0)

    # A Kafka restart is waited out.
    assert stack.stop_service(settings, "kafka")
    try:
        # The gateway takes these from the broker but cannot acknowledge them yet.
        await asyncio.to_thread(publish, valid[100:250])
        await asyncio.sleep(2)
        assert process.poll() is None, "the gateway must wait for Kafka, not crash"
    finally:
        stack.start_service(settings, "kafka")
    await _wait_for_counts(settings, raw=250, dead=0)
    assert process.poll() is None

    # Stopped while Kafka is away, the gateway leaves what it could not forward unacknowledged,
    # and the next gateway forwards it.
    assert stack.stop_service(settings, "kafka")
    try:
        await asyncio.to_thread(publish, valid[250:])
        await asyncio.sleep(1)
        stopping = time.monotonic()
        assert stop_gateway(process) == 0
        assert time.monotonic() - stopping < 20
    finally:
        stack.start_service(settings, "kafka")
    gateway()
    await _wait_for_counts(settings, raw=len(valid), dead=0)
    await _assert_forwarded_once_in_order(settings, valid, at_least_once=True)


# Helpers.


def _reading(site_id: str, sensor_id: str, seq: int) -> Reading:
    return Reading(
        sensor_id=sensor_id,
        site_id=site_id,
        kind="air_pm25",
        value=12.5,
        unit="ug/m3",
        observed_at=datetime(2026, 11, 29, 1, 0, tzinfo=UTC),
        seq=seq,
    )


def _topic(settings: Settings, site_id: str, sensor_id: str) -> str:
    return f"{settings.mqtt_topic_prefix}city/{site_id}/{sensor_id}"


def _city_messages(settings: Settings, count: int) -> list[Message]:
    """``count`` valid readings of the city on their topics, a few per sensor, seq rising."""
    messages = []
    for _key, value in city_events(settings, count, datetime.now(UTC) - timedelta(hours=1)):
        reading = Reading.model_validate_json(value)
        messages.append((_topic(settings, reading.site_id, reading.sensor_id), value))
    return messages


def _malformed(settings: Settings, valid: list[Message]) -> list[Malformed]:
    """Payloads and topics that must be dead-lettered, one per way of being wrong."""
    a = Reading.model_validate_json(valid[0][1])
    b = next(r for r in (Reading.model_validate_json(v) for _, v in valid) if r.site_id != a.site_id)
    a_topic = _topic(settings, a.site_id, a.sensor_id)
    a_json = json.loads(a.model_dump_json())
    return [
        Malformed(a_topic, b'{"sensor_id": "', Reason.NOT_JSON, "not JSON"),
        Malformed(a_topic, b"", Reason.NOT_JSON, "not JSON"),
        Malformed(a_topic, b"\xff\xfe\x00binary", Reason.NOT_JSON, "not JSON"),
        Malformed(
            a_topic,
            json.dumps({**a_json, "value": "12.5"}).encode(),
            Reason.SCHEMA,
            "value: Input should be a valid number",
        ),
        Malformed(a_topic, json.dumps({**a_json, "extra": 1}).encode(), Reason.SCHEMA, "extra: Extra inputs"),
        Malformed(a_topic, json.dumps({**a_json, "value": float("nan")}).encode(), Reason.NON_FINITE, "NaN"),
        Malformed(
            _topic(settings, b.site_id, b.sensor_id),  # a's reading on b's topic
            a.model_dump_json().encode(),
            Reason.SCHEMA,
            f"is site {b.site_id!r}, sensor {b.sensor_id!r}, but the payload is site {a.site_id!r}",
        ),
        Malformed(
            _topic(settings, b.site_id, a.sensor_id),  # the right sensor under another site
            a.model_dump_json().encode(),
            Reason.SCHEMA,
            f"is site {b.site_id!r}, sensor {a.sensor_id!r}, but the payload is site {a.site_id!r}",
        ),
    ]


def _restart_broker(settings: Settings) -> None:
    assert stack.stop_service(settings, "mosquitto")
    assert stack.start_service(settings, "mosquitto")


async def _counts(settings: Settings) -> tuple[int, int]:
    raw, dead = settings.topic("readings.raw"), settings.topic("readings.deadletter")
    return await count_records(settings, raw), await count_records(settings, dead)


async def _wait_for_counts(settings: Settings, raw: int, dead: int) -> None:
    async def reached() -> bool:
        have_raw, have_dead = await _counts(settings)
        return have_raw >= raw and have_dead >= dead

    await wait_for(f"{raw} readings and {dead} dead letters", reached, seconds=90)


async def _records(settings: Settings, topic: str) -> list[KafkaRecord]:
    """Every record of ``topic``, by partition and offset."""
    ends = await end_offsets(settings, (topic,))
    records: list[KafkaRecord] = []
    consumer = AIOKafkaConsumer(**aiokafka_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(ends))
        await consumer.seek_to_beginning()
        while len(records) < sum(ends.values()):
            batches = await consumer.getmany(timeout_ms=2000)
            assert batches, "Kafka returned fewer records than its end offsets count"
            for tp, batch in batches.items():
                records.extend(
                    KafkaRecord(tp.partition, r.offset, r.key, r.value)
                    for r in batch
                    if r.offset < ends[tp] and r.value is not None
                )
    finally:
        await consumer.stop()
    return sorted(records, key=lambda record: (record.partition, record.offset))


async def _assert_forwarded_once_in_order(
    settings: Settings, valid: list[Message], at_least_once: bool = False
) -> None:
    """Each valid payload is in readings.raw once (``at_least_once``: a repeat may follow),
    keyed by its sensor, each sensor on one partition in publishing order."""
    await asyncio.sleep(1)  # anything forwarded twice would have arrived by now
    records = await _records(settings, settings.topic("readings.raw"))
    values = [record.value for record in records]
    if at_least_once:
        assert set(values) == {payload for _, payload in valid}
    else:
        assert sorted(values) == sorted(payload for _, payload in valid)
    by_sensor: dict[bytes | None, list[KafkaRecord]] = defaultdict(list)
    for record in records:
        reading = Reading.model_validate_json(record.value)
        assert record.key == reading.sensor_id.encode()
        by_sensor[record.key].append(record)
    published: dict[bytes, list[bytes]] = defaultdict(list)
    for _, payload in valid:
        published[Reading.model_validate_json(payload).sensor_id.encode()].append(payload)
    assert len(by_sensor) > 20
    for sensor, sensor_records in by_sensor.items():
        assert len({record.partition for record in sensor_records}) == 1, sensor
        seen = list(dict.fromkeys(record.value for record in sensor_records))  # first occurrences
        assert seen == published[sensor or b""], f"{sensor!r} is out of order"


async def _assert_dead_letters(settings: Settings, malformed: list[Malformed]) -> None:
    values = await _records(settings, settings.topic("readings.deadletter"))
    letters = [DeadLetter.model_validate_json(record.value) for record in values]
    assert len(letters) == len(malformed)
    by_original = {(letter.source_topic, letter.original): letter for letter in letters}
    for bad in malformed:
        letter = by_original[(f"mqtt:{bad.topic}", bad.payload)]
        assert (letter.stage, letter.reason) == ("mqtt", bad.reason), letter
        assert bad.detail in letter.detail, letter
        assert (letter.source_partition, letter.source_offset) == (-1, -1)
        assert letter.key == bad.topic.rpartition("/")[2]
