"""The Faust app: thin agents that move readings between topics.

``clean``: ``readings.raw`` -> ``readings.clean`` | ``readings.deadletter`` | ``quality``
``score``: ``readings.clean`` -> ``readings.scored`` (one River detector per sensor)
``sink``: ``readings.scored`` -> InfluxDB, in batches, acknowledged only once InfluxDB took them
``health``: ``quality`` -> InfluxDB, likewise

The cleaning stage keeps each sensor's :class:`~sensors.health.SensorState` (duplicates,
lateness, gaps, flatlines, silence) in a Faust table whose changelog is written together with
the stage's outputs, before the batch is acknowledged: a restarted worker recovers the table and
does not let through the duplicates it had already seen.

No agent lets an exception escape: Faust acknowledges (and so commits, and skips) the event an
agent raised on. The logic lives in ``sensors`` and ``models``; the agents only call it. Each
stage counts what became of its events (``streams.metrics``): Prometheus reads them at the
worker's ``/metrics`` and they are written to InfluxDB every ``OPENLAB_METRICS_SECONDS``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import faust

from models.alarms import Alarm, SensorAlarms
from models.scoring import ScoredReading, score_reading
from sensors.cleaning import Cleaner, DeadLetter, Reason, Rejection
from sensors.health import HealthEvent, SensorState
from sensors.measurements import CLEAN_STAGE, REJECTED, STATUS_CODES
from sensors.reading import Reading
from sensors.sites import SiteRegistry
from streams.checkpoints import DetectorCheckpoints
from streams.influx import InfluxWriter, Refused, alarm_line, health_lines, reading_line, status_line
from streams.metrics import PipelineCounters, consumer_lag
from streams.operators import OperatorCommand
from streams.publisher import Publisher, Record
from streams.schema import ModelSchema
from streams.settings import Settings
from streams.topics import TopicNames

log = logging.getLogger(__name__)


def build_app(settings: Settings, registry: SiteRegistry) -> faust.App:
    """The worker's app for one city and one set of settings."""
    datadir = settings.run_dir / "faust" / settings.app_id
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap_servers}",
        store="memory://",
        datadir=str(datadir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_commit_interval=1.0,
        web_enabled=settings.worker_web_port > 0,
        web_port=max(settings.worker_web_port, 1),
        web_host="127.0.0.1",
    )
    names = TopicNames.of(settings)
    raw = app.topic(names.raw, schema=ModelSchema(Reading))
    clean_topic = app.topic(names.clean, schema=ModelSchema(Reading))
    scored_topic = app.topic(names.scored, schema=ModelSchema(ScoredReading))
    quality_topic = app.topic(names.quality, schema=ModelSchema(HealthEvent))
    commands_topic = app.topic(names.commands, schema=ModelSchema(OperatorCommand))
    # Values are SensorState objects while this worker uses them and JSON once recovered from
    # the changelog, which the cleaning stage writes itself (see clean_batch).
    sensor_states = app.Table("sensor-states", partitions=settings.partitions)  # keys, values: JSON
    sensor_alarms = app.Table("sensor-alarms", partitions=settings.partitions)  # keys, values: JSON
    alarm_rules = settings.alarm_rules()
    cleaner = Cleaner(registry, max_future=timedelta(seconds=settings.max_future_seconds))
    rules = settings.health_rules()
    clocks: dict[int, datetime] = {}
    counters = PipelineCounters()
    writer = InfluxWriter(settings, counters.sink)
    metrics_writer = InfluxWriter(settings)
    publisher = Publisher(settings)
    checkpoints = DetectorCheckpoints(settings, publisher, names.checkpoints)

    async def reject(rejected: list[tuple[Any, Rejection]], stage: str) -> None:
        now = datetime.now(UTC)
        letters = []
        for event, rejection in rejected:
            message = event.message
            letter = DeadLetter.of(
                rejection,
                stage=stage,
                original=message.value or b"",
                key=message.key,
                source=(message.topic, message.partition, message.offset),
                at=now,
            )
            letters.append((message.key, letter.model_dump_json().encode()))
            counters.count(stage, REJECTED, rejection.reason.value)
        if letters:
            await publisher.publish(names.deadletter, letters)

    async def guarded(batch: list[Any], stage: str, step: Callable[[list[Any]], Awaitable[None]]) -> None:
        # A bug in the logic must not lose events: they go to the dead letters with the error.
        try:
            await step(batch)
        except Exception as error:
            log.exception("%s failed", stage)
            rejection = Rejection(Reason.INTERNAL_ERROR, f"{type(error).__name__}: {error}")
            await reject([(event, rejection) for event in batch], stage)

    def state_of(reading: Reading, partition: int) -> SensorState:
        state = _held(sensor_states, reading.sensor_id, SensorState, SensorState.from_dict)
        if state is None or state.partition != partition:
            state = sensor_states.data[reading.sensor_id] = SensorState.of(reading, partition)
        return state

    def stale_sensors(partitions: set[int]) -> list[tuple[SensorState, HealthEvent]]:
        """Sensors of ``partitions`` (whose event time just moved) silent for too long."""
        found = []
        for sensor_id in list(sensor_states.data):
            state = _held(sensor_states, sensor_id, SensorState, SensorState.from_dict)
            if state is None or state.partition not in partitions:
                continue
            event = state.check_stale(clocks[state.partition], rules)
            if event is not None:
                found.append((state, event))
        return found

    async def clean_batch(batch: list[Any]) -> None:
        now = datetime.now(UTC)
        passed: list[Record] = []
        rejected: list[tuple[Any, Rejection]] = []
        health: list[HealthEvent] = []
        changed: dict[str, SensorState] = {}
        advanced: set[int] = set()
        outcomes: Counter[str] = Counter()
        for event in batch:
            result = event.value
            if isinstance(result, Reading):
                result = cleaner.check(result, now)
            if isinstance(result, Reading):
                partition = event.message.partition
                state = state_of(result, partition)
                admission = state.admit(result, event.message.offset, rules)
                changed[result.sensor_id] = state
                if admission.outcome == "accepted" and result.observed_at > clocks.get(partition, _DAWN):
                    clocks[partition] = result.observed_at
                    advanced.add(partition)
                health.extend(admission.events)
                result = admission.reading
                outcomes[admission.outcome] += 1
            if isinstance(result, Rejection):
                rejected.append((event, result))
            else:
                passed.append((event.key, result.model_dump_json().encode()))
        for state, stale in stale_sensors(advanced):
            changed[state.sensor_id] = state
            health.append(stale)
        # The changelog is stored with the outputs, before the batch is acknowledged: the table
        # a restarted worker recovers has seen at least everything that was committed.
        changelog = _changelog(
            (sensor_id, state.partition, state.to_dict()) for sensor_id, state in changed.items()
        )
        await asyncio.gather(
            publisher.publish(names.clean, passed),
            publisher.publish(
                names.quality, [(e.sensor_id.encode(), e.model_dump_json().encode()) for e in health]
            ),
            publisher.publish_to_partitions(sensor_states.changelog_topic.get_topic_name(), changelog),
        )
        await reject(rejected, CLEAN_STAGE)
        for outcome in ("accepted", "out_of_order", "replayed"):
            counters.count(CLEAN_STAGE, outcome, n=outcomes[outcome])
        for item in health:
            counters.count_health(item.problem.value, item.status)

    async def score_batch(batch: list[Any]) -> None:
        await checkpoints.follow_assignment()
        scored: list[Record] = []
        rejected: list[tuple[Any, Rejection]] = []
        anomalous = 0
        for event in batch:
            reading = event.value
            if isinstance(reading, Rejection):
                rejected.append((event, reading))
                continue
            result = score_reading(checkpoints.detector(reading, event.message.partition), reading)
            anomalous += result.anomalous
            scored.append((event.key, result.model_dump_json().encode()))
        await publisher.publish(names.scored, scored)
        await reject(rejected, "score")
        counters.count("score", "anomalous", n=anomalous)
        counters.count("score", "normal", n=len(scored) - anomalous)

    async def write_points(events_points: list[tuple[Any, list[str]]], stage: str) -> int:
        """Write every event's points to InfluxDB; an event whose points InfluxDB refuses goes to
        the dead letters with its answer (the others are written, idempotently, all the same).
        Returns how many events had their points written."""
        try:
            await writer.write([line for _, lines in events_points for line in lines])
        except Refused:
            refused = []
            for event, lines in events_points:
                try:
                    await writer.write(lines)
                except Refused as refusal:
                    refused.append((event, Rejection(Reason.SINK_REJECTED, str(refusal))))
            await reject(refused, stage)
            return len(events_points) - len(refused)
        return len(events_points)

    async def write_events(
        batch: list[Any], stage: str, points: Callable[[Any, SiteRegistry], list[str]]
    ) -> None:
        await reject([(e, e.value) for e in batch if isinstance(e.value, Rejection)], stage)
        good = [(e, points(e.value, registry)) for e in batch if not isinstance(e.value, Rejection)]
        counters.count(stage, "written", n=await write_points(good, stage))

    async def sink_batch(batch: list[Any]) -> None:
        await write_events(batch, "sink", lambda scored, registry: [reading_line(scored, registry)])

    async def health_batch(batch: list[Any]) -> None:
        await write_events(batch, "health", health_lines)

    def alarms_of(sensor_id: str) -> SensorAlarms:
        state = _held(
            sensor_alarms, sensor_id, SensorAlarms, lambda d: SensorAlarms.from_dict(d, alarm_rules)
        )
        if state is None:
            state = sensor_alarms.data[sensor_id] = SensorAlarms(sensor_id, alarm_rules)
        return state

    async def raise_alarms(
        alarms: list[tuple[Any, Alarm]],
        changed: dict[str, tuple[int, SensorAlarms]],
        stage: str,
        statuses: Sequence[tuple[Any, str]] = (),
    ) -> None:
        """Publish the alarm events (each with the event that raised it) to ``alerts`` and to
        their owners' topics, store the changed alarm states, then write the alarm events and the
        sensors' changes of status to InfluxDB, all before the batch is acknowledged."""
        by_owner: dict[str, list[Record]] = defaultdict(list)
        every: list[Record] = []
        points: dict[int, tuple[Any, list[str]]] = {}
        for event, alarm in alarms:
            record = (alarm.site_id.encode(), alarm.model_dump_json().encode())
            every.append(record)
            by_owner[alarm.owner_id].append(record)
            points.setdefault(id(event), (event, []))[1].append(alarm_line(alarm))
            counters.count("alarm", alarm.change.value, alarm.severity.value)
        for event, line in statuses:
            points.setdefault(id(event), (event, []))[1].append(line)
        changelog = _changelog(
            (sensor, partition, state.to_dict()) for sensor, (partition, state) in changed.items()
        )
        await asyncio.gather(
            publisher.publish(names.alerts, every),
            *(publisher.publish(names.owner(owner), records) for owner, records in by_owner.items()),
            publisher.publish_to_partitions(sensor_alarms.changelog_topic.get_topic_name(), changelog),
        )
        if points:
            await write_points(list(points.values()), stage)

    async def alarm_batch(batch: list[Any]) -> None:
        alarms: list[tuple[Any, Alarm]] = []
        changed: dict[str, tuple[int, SensorAlarms]] = {}
        statuses: list[tuple[Any, str]] = []
        for event in batch:
            scored = event.value
            site = None if isinstance(scored, Rejection) else registry.site(scored.site_id)
            if site is None:
                continue  # the sink dead-letters what it cannot read
            state = alarms_of(scored.sensor_id)
            before = None if state.latest is None else state.status
            alarms.extend((event, alarm) for alarm in state.observe(scored, site))
            changed[scored.sensor_id] = (event.message.partition, state)
            if state.status != before:
                fields: dict[str, int | str] = {"code": STATUS_CODES[state.status], "status": state.status}
                line = status_line(scored.sensor_id, scored.kind, site, scored.observed_at, fields)
                statuses.append((event, line))
        await raise_alarms(alarms, changed, "alarm", statuses)

    async def command_batch(batch: list[Any]) -> None:
        alarms: list[tuple[Any, Alarm]] = []
        changed: dict[str, tuple[int, SensorAlarms]] = {}
        rejected: list[tuple[Any, Rejection]] = []
        for event in batch:
            command = event.value
            if isinstance(command, Rejection):
                rejected.append((event, command))
                continue
            state = alarms_of(command.sensor_id)
            act = state.acknowledge if command.action == "acknowledge" else state.clear
            alarm = act(command.alarm_id, command.at)
            if alarm is None:
                detail = f"sensor {command.sensor_id} has no alarm {command.alarm_id} to {command.action}"
                rejected.append((event, Rejection(Reason.SCHEMA, detail)))
                continue
            alarms.append((event, alarm))
            changed[command.sensor_id] = (event.message.partition, state)
        await raise_alarms(alarms, changed, "operator")
        await reject(rejected, "operator")

    # take_events() acknowledges a batch only after the body returns, and each step returns
    # only once Kafka (or InfluxDB) has acknowledged its output: so offsets are committed only
    # for events whose results are safely stored.
    def stage(
        topic: Any, name: str, step: Callable[[list[Any]], Awaitable[None]], size: int, within: float
    ) -> None:
        async def agent(stream: Any) -> None:
            async for batch in stream.take_events(size, within=within):
                await guarded(batch, name, step)

        app.agent(topic, name=name)(agent)

    size, within = settings.batch_size, settings.batch_seconds
    sink_size, sink_within = settings.sink_batch_size, settings.sink_batch_seconds
    stage(raw, CLEAN_STAGE, clean_batch, size, within)
    stage(clean_topic, "score", score_batch, size, within)
    stage(scored_topic, "sink", sink_batch, sink_size, sink_within)
    stage(quality_topic, "health", health_batch, sink_size, sink_within)
    # A second consumer of readings.scored beside the sink: Faust hands each event to both.
    stage(scored_topic, "alarm", alarm_batch, size, within)
    stage(commands_topic, "operator", command_batch, 100, within)

    def take_stock() -> None:
        """Count the partitions of readings.raw this worker owns, and its lag on them."""
        owned = [tp for tp in app.assignor.assigned_actives() if tp.topic == names.raw]
        counters.active_partitions = len(owned)
        counters.lag = consumer_lag(
            {tp: app.consumer.highwater(tp) for tp in owned}, app.monitor.tp_committed_offsets
        )

    @app.timer(interval=settings.metrics_seconds)  # type: ignore[untyped-decorator]
    async def report() -> None:
        take_stock()
        now = time.time_ns()
        try:
            await metrics_writer.write([*counters.interval_lines(now), counters.standing_line(now)])
        except Refused:
            log.exception("InfluxDB refused the pipeline counters")

    @app.timer(interval=settings.checkpoint_seconds)  # type: ignore[untyped-decorator]
    async def checkpoint() -> None:
        try:
            await checkpoints.save()
        except Exception:
            log.exception("checkpointing the detectors failed; the next interval tries again")

    def scored_partitions(tps: Any) -> set[int]:
        return {tp.partition for tp in tps if tp.topic == names.clean}

    # A rebalance only records the partitions this worker now scores: Faust runs these
    # handlers in the middle of its rebalance, where Kafka I/O of our own stalls it. The score
    # agent saves, forgets and restores detectors accordingly before its next batch.
    @app.on_partitions_assigned.connect  # type: ignore[arg-type]
    async def assigned(app: faust.App, assigned: Any, **_: Any) -> None:
        checkpoints.assign({tp.partition for tp in assigned if tp.topic == names.clean})

    if settings.worker_web_port > 0:

        @app.page("/metrics")
        async def metrics(web: Any, request: Any) -> Any:
            take_stock()
            # Prometheus's text format (aiohttp sets the charset itself).
            return web.bytes(counters.exposition(), content_type="text/plain")

    app.on_before_shutdown.connect(_closing(writer, metrics_writer, publisher, checkpoints))
    return app


_DAWN = datetime.min.replace(tzinfo=UTC)

State = TypeVar("State")


def _held(table: Any, key: str, kind: type[State], load: Callable[[Any], State | None]) -> State | None:
    """The state of ``key`` in a table whose values are objects while this worker uses them and
    JSON once recovered from the changelog (which is then loaded, and kept as an object). An
    unreadable record is logged once and dropped: its sensor starts afresh."""
    stored = table.data.get(key)
    if stored is None or isinstance(stored, kind):
        return stored
    state = load(stored)
    if state is None:
        log.warning("unreadable record of sensor %s in table %s; it starts afresh", key, table.name)
        del table.data[key]
    else:
        table.data[key] = state
    return state


def _changelog(states: Iterable[tuple[str, int, dict[str, Any]]]) -> dict[int, list[Record]]:
    """A table's changelog records (JSON key and value, as Faust reads them back), by the
    partition of the events that changed them."""
    records: dict[int, list[Record]] = defaultdict(list)
    for key, partition, value in states:
        records[partition].append((json.dumps(key).encode(), json.dumps(value).encode()))
    return records


def _closing(
    writer: InfluxWriter, metrics_writer: InfluxWriter, publisher: Publisher, checkpoints: DetectorCheckpoints
) -> Any:
    async def close(app: faust.App, **_: Any) -> None:
        try:
            await checkpoints.save()
        except Exception:
            log.exception("the last checkpoint of the detectors failed")
        await writer.close()
        await metrics_writer.close()
        await publisher.stop()

    return close
