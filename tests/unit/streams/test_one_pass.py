"""The one pass's steps on explicit batches, without Kafka or InfluxDB: what each batch publishes,
rejects, writes and changelogs, a replay after a restart, and the sink's handling of refusals.
(The pass against the real services: test_faults, test_clean_data, test_checkpoints,
test_alarms_pipeline, test_sink_refusals.)"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from models.alarms import AlarmRules
from sensors.catalog import KINDS
from sensors.cleaning import DeadLetter, Reason
from sensors.reading import Reading
from sensors.sites import SiteRegistry
from streams.kafka.topics import TopicNames
from streams.metrics import PipelineCounters
from streams.owners.operators import OperatorCommand
from streams.pipeline.one_pass import OnePass
from streams.pipeline.state import SensorStates
from streams.runtime.batch import Fetched, Outputs, Points
from streams.runtime.stall import log_stall
from streams.settings import Settings
from streams.sinks.influx import Refused
from streams.sinks.points import write_points

CITY = SiteRegistry.generate(count=6, seed=4)
SETTINGS = Settings(topic_prefix="unit.", partitions=4)
NAMES = TopicNames.of(SETTINGS)
START = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def one_pass() -> OnePass:
    return OnePass(SETTINGS, CITY, PipelineCounters(worker="w"))


def readings(count: int, sensors: int = 3) -> list[Reading]:
    chosen = list(CITY.sensors())[:sensors]
    return [
        Reading(
            sensor_id=sensor.sensor_id,
            site_id=site.site_id,
            kind=sensor.kind,
            value=KINDS[sensor.kind].baseline + 0.01 * (n % 7),
            unit=sensor.unit,
            observed_at=START + timedelta(minutes=n),
            seq=n + 1,
        )
        for n in range(count)
        for site, sensor in chosen
    ]


def events(items: Sequence[Reading | bytes], first_offset: int = 0) -> list[Fetched]:
    """Raw events, one partition per sensor (by the order sensors first appear)."""
    partitions: dict[bytes, int] = {}
    fetched = []
    for offset, item in enumerate(items, start=first_offset):
        key, value = (
            (item.sensor_id.encode(), item.model_dump_json().encode())
            if isinstance(item, Reading)
            else (b"junk", item)
        )
        partition = partitions.setdefault(key, len(partitions) % SETTINGS.partitions)
        fetched.append(Fetched(NAMES.raw, partition, offset, key, value))
    return fetched


def test_a_batch_of_valid_readings_is_published_scored_written_and_changelogged_once_per_sensor() -> None:
    worker = one_pass()
    batch = events(readings(5))
    out = Outputs()
    worker.steps(batch, out)

    assert out.rejected == []
    assert [key for key, _ in out.records[NAMES.clean]] == [e.key for e in batch]
    scored = out.records[NAMES.scored]
    assert [key for key, _ in scored] == [e.key for e in batch]
    sink = [p for p in out.points if p.stage == "sink"]
    assert [(p.event, p.original) for p in sink] == [
        (e, value) for e, (_, value) in zip(batch, scored, strict=True)
    ]
    # One record per sensor that changed.
    assert sorted(key or b"" for key, _ in out.tables[NAMES.state]) == sorted({e.key or b"" for e in batch})
    assert worker.counters.events[("clean", "accepted", "")] == len(batch)
    assert worker.states.changelog() == {}, "the changelog is taken once"


def test_malformed_unknown_and_duplicate_events_are_rejected_with_their_reason() -> None:
    worker = one_pass()
    good = readings(2, sensors=1)
    stranger = good[0].model_copy(update={"sensor_id": "NOPE-1.temperature"})
    batch = events([*good, b"{not json", stranger, good[1]])
    out = Outputs()
    worker.steps(batch, out)

    reasons = [(event.offset, rejection.reason, stage) for event, rejection, stage, _ in out.rejected]
    assert reasons == [
        (2, Reason.NOT_JSON, "clean"),
        (3, Reason.UNKNOWN_SENSOR, "clean"),
        (4, Reason.DUPLICATE, "clean"),
    ]
    assert len(out.records[NAMES.scored]) == 2
    letters = [DeadLetter.model_validate_json(value) for _, value in out.dead_letters(datetime.now(UTC))]
    assert [(x.source_topic, x.source_offset, x.original) for x in letters] == [
        (NAMES.raw, e.offset, e.value) for e in batch[2:]
    ]


def test_a_reading_keyed_by_another_sensor_or_none_is_rejected_before_it_touches_its_sensors_state() -> None:
    """Keyed otherwise, a sensor's reading went to another partition, where it started the
    sensor's state anew: a reading two years late, or one sent twice, then passed."""
    worker = one_pass()
    (first,) = readings(1, sensors=1)
    key, value = first.sensor_id.encode(), first.model_dump_json().encode()
    late = first.model_copy(update={"observed_at": START - timedelta(days=700), "seq": 7})
    batch = [
        Fetched(NAMES.raw, 0, 0, key, value),
        Fetched(NAMES.raw, 1, 0, None, value),  # sent again: without a key,
        Fetched(NAMES.raw, 2, 0, b"GJ-00002.noise_level", value),  # under another sensor's,
        Fetched(NAMES.raw, 1, 1, None, late.model_dump_json().encode()),  # two years late, without
        Fetched(NAMES.raw, 0, 1, key, late.model_dump_json().encode()),  # and under its own key
    ]
    out = Outputs()
    worker.steps(batch, out)

    rejected = [(e.partition, e.offset, rejection) for e, rejection, _, _ in out.rejected]
    assert [(partition, offset, rejection.reason) for partition, offset, rejection in rejected] == [
        (1, 0, Reason.SCHEMA),
        (2, 0, Reason.SCHEMA),
        (1, 1, Reason.SCHEMA),
        (0, 1, Reason.TOO_LATE),
    ]
    rule = f"not its sensor id {first.sensor_id!r}: readings.raw is keyed by sensor id"
    assert [rejection.detail for _, _, rejection in rejected[:3]] == [
        f"the record has no key, {rule}",
        f"the record has the key 'GJ-00002.noise_level', {rule}",
        f"the record has no key, {rule}",
    ]
    assert [key for key, _ in out.records[NAMES.clean]] == [first.sensor_id.encode()]


def test_a_restored_worker_takes_an_uncommitted_batch_again_as_a_replay_not_as_duplicates() -> None:
    first = one_pass()
    batch = events(readings(4))
    out = Outputs()
    first.steps(batch, out)

    # A successor restores the changelog written with the batch, whose offsets were never committed.
    second = one_pass()
    partition_of = {e.key: e.partition for e in batch}
    for key, value in out.tables[NAMES.state]:
        assert key is not None and second.states.load(key, partition_of[key], value)
    again = Outputs()
    second.steps(batch, again)
    assert again.rejected == []
    assert second.counters.events[("clean", "replayed", "")] == len(batch)
    assert len(again.records[NAMES.scored]) == len(batch)


def test_an_unreadable_state_record_means_a_fresh_sensor_and_a_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    states = SensorStates(AlarmRules())
    with caplog.at_level(logging.WARNING, logger="streams.pipeline.state"):
        assert not states.load(b"S-1.t", 0, b'{"health": {"v": 99}, "alarms": null}')
        assert not states.load(b"S-2.t", 0, b"\x80 not json")
    assert states.health == {} and states.alarms == {}
    assert "state record of sensor S-1.t is unreadable; it starts afresh" in caplog.text


def test_an_operators_command_on_an_alarm_the_sensor_does_not_have_is_dead_lettered() -> None:
    worker = one_pass()
    sensor_id = next(iter(CITY.sensors()))[1].sensor_id
    command = OperatorCommand(action="clear", alarm_id="A-1", sensor_id=sensor_id, at=datetime.now(UTC))
    fetched = Fetched(NAMES.commands, 1, 0, sensor_id.encode(), command.model_dump_json().encode())
    out = Outputs()
    worker.steps([fetched], out)
    ((event, rejection, stage, _),) = out.rejected
    assert (event, stage, rejection.reason) == (fetched, "operator", Reason.SCHEMA)
    assert rejection.detail == f"sensor {sensor_id} has no alarm A-1 to clear"


class RefusingWriter:
    """Refuses any write that holds a line with ``bad`` in it (as InfluxDB does a type conflict)."""

    def __init__(self) -> None:
        self.writes: list[list[str]] = []

    async def write(self, lines: Sequence[str]) -> None:
        self.writes.append(list(lines))
        if any("bad" in line for line in lines):
            raise Refused("InfluxDB refused the points: 400 field type conflict")


async def test_points_influxdb_refuses_dead_letter_their_own_events_with_the_step_that_made_them() -> None:
    batch = events(readings(2, sensors=2))
    points = [
        Points(batch[0], "sink", b"scored-0", ["reading ok=1"]),
        Points(batch[1], "sink", b"scored-1", ["reading bad=1"]),
        Points(batch[2], "alarm", b"scored-2", ["alarm bad=1", "sensor_status ok=1"]),
        Points(batch[3], "health", b"episode-3", ["sensor_health ok=1"]),
    ]
    writer = RefusingWriter()
    out = Outputs()
    written = await write_points(writer, points, out)

    assert written == Counter({"sink": 1, "alarm": 0, "health": 1})
    assert [(e.offset, stage, original) for e, _, stage, original in out.rejected] == [
        (1, "sink", b"scored-1"),
        (2, "alarm", b"scored-2"),
    ]
    assert all(
        r.reason is Reason.SINK_REJECTED and "type conflict" in r.detail for _, r, _, _ in out.rejected
    )
    assert len(writer.writes) == 1 + len(points), "one write for the batch, then one per event"


async def test_a_batch_influxdb_takes_is_one_write() -> None:
    writer = RefusingWriter()
    batch = events(readings(3))
    out = Outputs()
    written = await write_points(
        writer, [Points(e, "sink", b"", [f"reading n={e.offset}"]) for e in batch], out
    )
    assert written == Counter({"sink": len(batch)})
    assert len(writer.writes) == 1 and out.rejected == []


async def test_a_stalled_batch_is_logged_with_where_each_task_waits(caplog: pytest.LogCaptureFixture) -> None:
    async def waits_for_kafka() -> None:
        await asyncio.sleep(60)

    waiting = asyncio.create_task(waits_for_kafka())
    await asyncio.sleep(0)
    with caplog.at_level(logging.WARNING, logger="streams.runtime.stall"):
        log_stall("the-pass", 7)
    waiting.cancel()
    assert "the-pass: a batch of 7 events has been in hand for 60 s" in caplog.text
    assert "in waits_for_kafka" in caplog.text, "the stack of each task"
