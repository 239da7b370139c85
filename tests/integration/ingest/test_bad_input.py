"""Bad input at every door: garbage drawn by Hypothesis (:mod:`tests.garbage`), with valid readings
between it, sent to the real services through Kafka, MQTT and HTTP.

Every item of garbage must end in exactly one dead letter with a reason it may have (matched to
the item: by its offset in ``readings.raw``, or by its bytes), or be refused at the door with a
clear answer (the broker's "not authorized" to a device publishing outside its sites; HTTP 400,
403 or 413 with an error and a detail); no process may die; and every valid reading sent between
the garbage must be in ``readings.raw`` and in InfluxDB exactly once. The worker judges whatever
a door let through, so every door is followed by one.

The three doors take 10,000 items of garbage or more between them, the same on every run.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sensors.cleaning import (
    MAX_ORIGINAL_BYTES,
    Cleaner,
    DeadLetter,
    Reason,
    Rejection,
    keyed_by_its_sensor,
)
from sensors.event_time import to_micros
from sensors.health import SensorState
from sensors.reading import Reading
from sensors.sites import SiteRegistry
from streams.city import load_city
from streams.ingest.mqtt_gateway import check
from streams.kafka.publisher import Record
from streams.kafka.topics import count_records, read_records
from streams.settings import Settings
from streams.sinks.influx import influxql
from tests.conftest import Client, GatewayFactory, WorkerFactory, publish_messages
from tests.feeding import city_events, produce, wait_for
from tests.garbage import Garbage, Valid, draw, garbage, huge, mis_keyed, misaddressed
from tests.logins import DeviceLogin

Source = tuple[int, int]
"""A record's partition and offset."""
T = TypeVar("T")


# --- the garbage itself, without services ------------------------------------------------------


def test_every_kind_of_garbage_is_rejected_by_the_cleaner_or_a_door_for_its_reason() -> None:
    """The strategies' promises hold (each item is rejected, for a reason it names), whatever
    the services do with them: a failure here is the garbage's or the cleaner's, not a door's."""
    city = SiteRegistry.generate(count=40, seed=1)
    now = datetime.now(UTC)
    valid = Valid(city, now - timedelta(hours=1), timedelta(minutes=5), timedelta(hours=1))
    cleaner = Cleaner(city, valid.max_future)
    rules = Settings().health_rules()
    for item in [*draw(garbage(valid), 1500), *draw(huge(valid), 10)]:
        verdict = cleaner.clean(item.payload, now)
        if isinstance(verdict, Reading):  # its sensor's first reading came before it
            first = verdict.model_copy(update={"observed_at": valid.start, "seq": None})
            state = SensorState.of(first, partition=0)
            state.admit(first, offset=0, rules=rules)
            verdict = state.admit(verdict, offset=1, rules=rules).reading
        assert isinstance(verdict, Rejection), f"{item.flaw}: {item.payload[:300]!r} was accepted"
        assert verdict.reason in item.reasons, (item.flaw, verdict, item.payload[:300])
    for item in draw(misaddressed(valid), 100):
        verdict = check("", f"city/{item.site_id}/{item.sensor_id}", item.payload)
        assert isinstance(verdict, Rejection) and verdict.reason in item.reasons, (item.flaw, verdict)
    for item in draw(mis_keyed(valid), 100):
        reading = cleaner.clean(item.payload, now)
        assert isinstance(reading, Reading), (item.flaw, reading)
        verdict = keyed_by_its_sensor(reading, item.key)
        assert isinstance(verdict, Rejection) and verdict.reason in item.reasons, (item.flaw, verdict)


# --- straight into readings.raw ----------------------------------------------------------------


async def test_garbage_in_readings_raw_is_dead_lettered_and_the_readings_between_reach_influxdb(
    pipeline_settings: Settings, worker: WorkerFactory
) -> None:
    settings = pipeline_settings
    events, valid = _valid(settings, 3000)
    items = draw(garbage(valid), 4800) + draw(mis_keyed(valid), 200) + draw(huge(valid), 12)
    process = worker(settings)
    sent: list[Record] = [*events]
    await produce(settings, _mixed(sent, [(item.key, item.payload) for item in items], head=_sensors(valid)))

    await _wait_for_outcome(settings, points=len(events), letters=len(items), processes=[process])
    assert process.poll() is None, "the worker must still be running"
    raw = await _records(settings, "readings.raw")
    letters = await _dead_letters(settings)
    valid_values = {value for _, value in events}
    garbage_at = {source: value for source, value in raw.items() if value not in valid_values}
    assert Counter(garbage_at.values()) == Counter(item.payload for item in items)
    _assert_judged_by_the_worker(settings, garbage_at, letters, _reasons_by_payload(items))
    assert len(letters) == len(garbage_at), "a dead letter that is no garbage's"
    await _assert_in_influxdb_once(settings, [value for _, value in events])
    print(f"Kafka: {len(items):,} items of garbage, all dead-lettered by the worker")


# --- over MQTT, through the gateway ------------------------------------------------------------

NOT_AUTHORIZED = 0x87
"""The broker's answer (PUBACK reason code) to a device publishing outside its sites' topics."""


async def test_garbage_over_mqtt_is_refused_or_dead_lettered_and_the_readings_between_arrive(
    mqtt_settings: Settings, mqtt_device: DeviceLogin, gateway: GatewayFactory, worker: WorkerFactory
) -> None:
    settings = mqtt_settings
    events, valid = _valid(settings, 1000)
    items = draw(garbage(valid), 2200) + draw(misaddressed(valid), 300) + draw(huge(valid), 6)
    messages = _mixed(
        [(_topic(settings, value), value) for _, value in events],
        [
            (f"{settings.mqtt_topic_prefix}city/{item.site_id}/{item.sensor_id}", item.payload)
            for item in items
        ],
        head=_sensors(valid),
    )
    processes = [worker(settings), gateway()]
    answered = await asyncio.to_thread(publish_messages, settings, mqtt_device, messages)
    answers = dict(zip(messages, answered, strict=True))

    sites = {site.site_id for site in valid.city.sites}
    for message, answer in answers.items():  # a message twice gets one answer here, the same
        topic_site = message[0].split("/")[-2]
        refused = answer.is_failure
        assert refused == (topic_site not in sites), (message[0], message[1][:200], answer)
        assert not refused or answer.value == NOT_AUTHORIZED, (message[0], answer)
    taken = [item for item in items if item.site_id in sites]
    await _wait_for_outcome(settings, points=len(events), letters=len(taken), processes=processes)
    raw = await _records(settings, "readings.raw")
    letters = await _dead_letters(settings)
    valid_values = Counter(value for _, value in events)
    assert Counter(value for value in raw.values() if value in valid_values) == valid_values
    forwarded = {source: value for source, value in raw.items() if value not in valid_values}
    reasons = _reasons_by_payload(taken)
    _assert_judged_by_the_worker(settings, forwarded, letters, reasons)
    at_the_door = [letter for letter in letters if letter.stage == "mqtt"]
    for letter in at_the_door:
        assert letter.source_topic.startswith(f"mqtt:{settings.mqtt_topic_prefix}city/"), letter
        assert letter.detail and letter.reason in reasons[letter.original], (letter, letter.original[:200])
    assert len(at_the_door) + len(forwarded) == len(letters), "a dead letter that is no garbage's"
    assert Counter(
        [letter.original for letter in at_the_door] + [_kept(v or b"") for v in forwarded.values()]
    ) == (Counter(_kept(item.payload) for item in taken)), (
        "each garbage item the broker took must have one dead letter, the gateway's or the worker's"
    )
    await _assert_in_influxdb_once(settings, list(valid_values))
    print(
        f"MQTT: {len(items):,} items of garbage: {len(items) - len(taken):,} refused by the broker,"
        f" {len(at_the_door):,} dead-lettered by the gateway, {len(forwarded):,} by the worker"
    )


# --- over HTTP, through openlab ingest ---------------------------------------------------------

BATCH_ITEMS = 40
BOM = "\ufeff".encode()


async def test_garbage_over_http_is_refused_or_dead_lettered_and_the_readings_between_arrive(
    pipeline_settings: Settings, client: Client, worker: WorkerFactory
) -> None:
    """Garbage that is JSON goes as items of arrays with valid readings between it. The rest (not
    JSON, nested deep, or a reading for a site the device may not write) goes alone: its batch is
    refused, or its one item rejected. Bodies over the size limit are refused too."""
    settings = pipeline_settings
    events, valid = _valid(settings, 1000)
    items = draw(garbage(valid), 2500) + draw(huge(valid), 6)
    limit = settings.ingest_max_body_bytes
    sites = {site.site_id for site in valid.city.sites}
    process = worker(settings)
    door_rejected: list[bytes] = []
    door_accepted: list[bytes] = []
    refused: Counter[int] = Counter()
    batch: list[bytes | Garbage] = []

    async def send_batch() -> None:
        body = (
            b"[" + b",".join(entry if isinstance(entry, bytes) else entry.payload for entry in batch) + b"]"
        )
        response = await client.post("/v1/readings", data=body)
        assert response.status == 200, (response.status, await response.text())
        answer = await response.json()
        assert [entry["index"] for entry in answer["items"]] == list(range(len(batch)))
        for entry, verdict in zip(batch, answer["items"], strict=True):
            if isinstance(entry, bytes):
                assert verdict["status"] == "accepted", (verdict, entry)
            elif verdict["status"] == "accepted":
                door_accepted.append(entry.payload)
            else:
                assert verdict["reason"] in entry.reasons and verdict["detail"], (verdict, entry.flaw)
                door_rejected.append(entry.payload)
        batch.clear()

    async def send_alone(item: Garbage) -> None:
        """As the one item of an array, unless it is empty or has space or a byte order mark
        around it."""
        stripped = item.payload.strip(b" \t\n\r")
        whole = item.payload == stripped != b"" and not item.payload.startswith(BOM)
        body = b"[" + item.payload + b"]" if whole else item.payload
        response = await client.post("/v1/readings", data=body)
        answer = await response.json()
        if response.status == 200:
            (verdict,) = answer["items"]
            assert verdict["status"] == "rejected" and verdict["detail"], (item.flaw, verdict)
            assert verdict["reason"] in item.reasons, (item.flaw, verdict)
            door_rejected.append(item.payload)
            return
        assert response.status in (400, 403, 413) and answer["error"] and answer["detail"], (
            item.flaw,
            answer,
        )
        assert response.status != 403 or _foreign(item.payload, sites), (item.flaw, answer)
        assert response.status != 413 or len(body) > limit, (item.flaw, answer)
        refused[response.status] += 1

    readings: list[bytes | Garbage] = [value for _, value in events]
    for entry in _mixed(readings, [*items], head=_sensors(valid)):
        if isinstance(entry, Garbage) and (not _json_text(entry.payload) or _foreign(entry.payload, sites)):
            await send_alone(entry)
            continue
        size = sum(len(e if isinstance(e, bytes) else e.payload) + 1 for e in [*batch, entry]) + 1
        if batch and (len(batch) == BATCH_ITEMS or size > limit):
            await send_batch()
        batch.append(entry)
    await send_batch()
    oversized = await _send_oversized(client, limit)
    refused[413] += oversized

    assert (await client.get("/healthz")).status == 200
    await _wait_for_outcome(
        settings, points=len(events), letters=len(door_rejected) + len(door_accepted), processes=[process]
    )
    raw = await _records(settings, "readings.raw")
    letters = await _dead_letters(settings)
    valid_values = Counter(value for _, value in events)
    assert Counter(value for value in raw.values() if value in valid_values) == valid_values
    forwarded = {source: value for source, value in raw.items() if value not in valid_values}
    assert Counter(forwarded.values()) == Counter(door_accepted)
    reasons = _reasons_by_payload(items)
    _assert_judged_by_the_worker(settings, forwarded, letters, reasons)
    at_the_door = [letter for letter in letters if letter.stage == "http"]
    assert Counter(letter.original for letter in at_the_door) == Counter(_kept(p) for p in door_rejected)
    for letter in at_the_door:
        assert letter.detail and letter.reason in reasons[letter.original], (letter, letter.original[:200])
    assert len(at_the_door) + len(forwarded) == len(letters), "a dead letter that is no garbage's"
    await _assert_in_influxdb_once(settings, list(valid_values))
    assert sum(refused.values()) + len(door_rejected) + len(door_accepted) == len(items) + oversized
    print(
        f"HTTP: {len(items) + oversized:,} items of garbage: refused {dict(refused)}, {len(door_rejected):,}"
        f" dead-lettered by the server, {len(door_accepted):,} by the worker"
    )


async def _send_oversized(client: Client, limit: int) -> int:
    """Bodies over the size limit, with a length and chunked: each must be a 413. Returns how many."""
    sent = 0
    for size in (limit + 1, 2 * limit, 5 * limit):
        body = b"[" + b"1," * ((size - 3) // 2) + b"1]"

        async def chunks(body: bytes = body) -> AsyncIterator[bytes]:
            for start in range(0, len(body), 64 * 1024):
                yield body[start : start + 64 * 1024]

        for data in (body, chunks()):
            response = await client.post("/v1/readings", data=data)
            answer = await response.json()
            assert response.status == 413 and answer["error"] == "too_large" and answer["detail"], answer
            sent += 1
    return sent


def _json_text(payload: bytes) -> bool:
    """Whether ``payload`` is one JSON value, alone (no space around it, no byte order mark), and
    not nested deep enough to be refused as a whole body: what may be an item of an array."""
    if payload != payload.strip(b" \t\n\r") or payload.count(b"[") + payload.count(b"{") > 400:
        return False
    try:
        json.loads(payload.decode("utf-8"), parse_int=str)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return True


def _foreign(payload: bytes, sites: set[str]) -> bool:
    """Whether ``payload`` is a JSON object naming a site that is not one of ``sites``."""
    try:
        value = json.loads(payload, parse_int=str)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict) and isinstance(value.get("site_id"), str) and value["site_id"] not in sites


# --- helpers -----------------------------------------------------------------------------------


def _topic(settings: Settings, value: bytes) -> str:
    reading = Reading.model_validate_json(value)
    return f"{settings.mqtt_topic_prefix}city/{reading.site_id}/{reading.sensor_id}"


def _valid(settings: Settings, count: int) -> tuple[list[tuple[bytes, bytes]], Valid]:
    """``count`` valid readings of the city from an hour ago (every sensor's first reading in the
    first tick), and what the garbage must know of them."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    events = city_events(settings, count, start)
    valid = Valid(
        load_city(settings),
        start,
        max_future=timedelta(seconds=settings.max_future_seconds),
        lateness=timedelta(seconds=settings.max_lateness_seconds),
    )
    assert {key for key, _ in events[: _sensors(valid)]} == {
        sensor.sensor_id.encode() for _, sensor in valid.city.sensors()
    }, "the first tick must hold every sensor's first reading"
    return events, valid


def _sensors(valid: Valid) -> int:
    return sum(1 for _ in valid.city.sensors())


def _mixed(valid: Sequence[T], garbage: Sequence[T], head: int) -> list[T]:
    """The valid items in their order, the first ``head`` of them first, then the garbage spread
    evenly among the others."""
    mixed = list(valid[:head])
    rest = valid[head:]
    for index, item in enumerate(garbage):
        mixed.extend(rest[index * len(rest) // len(garbage) : (index + 1) * len(rest) // len(garbage)])
        mixed.append(item)
    return mixed


def _reasons_by_payload(items: Iterable[Garbage]) -> dict[bytes, frozenset[Reason]]:
    """The reasons the dead letter of a payload may give, by the part of it a dead letter keeps."""
    reasons: defaultdict[bytes, frozenset[Reason]] = defaultdict(frozenset)
    for item in items:
        reasons[_kept(item.payload)] |= item.reasons
    return reasons


def _kept(payload: bytes) -> bytes:
    return payload[:MAX_ORIGINAL_BYTES]


async def _records(settings: Settings, name: str) -> dict[Source, bytes | None]:
    """Every record's value on topic ``name`` by partition and offset (the pipeline's topics are
    written without transactions, so a partition's offsets count its records from 0)."""
    records: dict[Source, bytes | None] = {}
    offsets: Counter[int] = Counter()
    for partition, _, value in await read_records(settings, settings.topic(name)):
        records[partition, offsets[partition]] = value
        offsets[partition] += 1
    return records


async def _dead_letters(settings: Settings) -> list[DeadLetter]:
    records = await _records(settings, "readings.deadletter")
    return [DeadLetter.model_validate_json(value or b"") for value in records.values()]


async def _wait_for_outcome(
    settings: Settings, points: int, letters: int, processes: Sequence[subprocess.Popen[bytes]]
) -> None:
    """Until InfluxDB holds ``points`` readings and ``letters`` dead letters were written, the
    ``processes`` still running; then a little longer, for anything more to show."""
    deadletter = settings.topic("readings.deadletter")

    async def arrived() -> bool:
        assert all(process.poll() is None for process in processes), "a process of the pipeline exited"
        return await count_records(settings, deadletter) >= letters and await _point_count(settings) >= points

    await wait_for(f"{points} points and {letters} dead letters", arrived, seconds=150)
    await asyncio.sleep(2)


def _assert_judged_by_the_worker(
    settings: Settings,
    garbage_at: dict[Source, bytes | None],
    letters: list[DeadLetter],
    reasons: dict[bytes, frozenset[Reason]],
) -> None:
    """Each record of ``garbage_at`` has one dead letter of the worker's, with a reason its
    payload may have and its bytes (up to what a dead letter keeps)."""
    raw = settings.topic("readings.raw")
    by_source: defaultdict[Source, list[DeadLetter]] = defaultdict(list)
    for letter in letters:
        if letter.source_topic == raw:
            by_source[letter.source_partition, letter.source_offset].append(letter)
    for source, value in garbage_at.items():
        assert value is not None
        found = by_source.get(source, [])
        assert len(found) == 1, f"{len(found)} dead letters for {value[:200]!r} at {source}"
        (letter,) = found
        assert letter.stage == "clean" and letter.detail, letter
        assert letter.reason in reasons[_kept(value)], (letter.reason, letter.detail, value[:200])
        assert letter.original == _kept(value), f"the dead letter of {value[:200]!r} has other bytes"


async def _point_count(settings: Settings) -> int:
    series = await influxql(settings, 'SELECT count("value") FROM "reading"')
    return sum(int(row[1]) for one in series for row in one["values"])


async def _assert_in_influxdb_once(settings: Settings, values: list[bytes]) -> None:
    """Each of the readings ``values`` is a point of InfluxDB, and nothing else is; each passed
    the clean step once."""
    expected: Counter[tuple[str, int]] = Counter()
    for value in values:
        reading = Reading.model_validate_json(value)
        expected[reading.sensor_id, to_micros(reading.observed_at) * 1000] += 1
    assert max(expected.values()) == 1, "the valid readings must be distinct"
    series = await influxql(settings, 'SELECT "value" FROM "reading" GROUP BY "sensor_id"')
    points = Counter((one["tags"]["sensor_id"], row[0]) for one in series for row in one["values"])
    assert points == expected
    cleaned = await count_records(settings, settings.topic("readings.clean"))
    assert cleaned == len(values), "a reading cleaned twice"
