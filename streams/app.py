"""The Faust app: three thin agents that move readings between topics.

``clean``: ``readings.raw`` -> ``readings.clean`` | ``readings.deadletter``
``score``: ``readings.clean`` -> ``readings.scored`` (one River detector per sensor)
``sink``: ``readings.scored`` -> InfluxDB, in batches, acknowledged only once InfluxDB took them

No agent lets an exception escape: Faust acknowledges (and so commits, and skips) the event an
agent raised on. The logic lives in ``sensors`` and ``models``; the agents only call it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import faust

from models.scoring import ScoredReading, SensorDetector, detector_for, score_reading
from sensors.cleaning import Cleaner, DeadLetter, Reason, Rejection
from sensors.lateness import SensorClocks
from sensors.reading import Reading
from sensors.sites import SiteRegistry
from streams.influx import InfluxWriter, Refused, reading_line
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
    cleaner = Cleaner(registry, max_future=timedelta(seconds=settings.max_future_seconds))
    clocks = SensorClocks(allowed=timedelta(seconds=settings.max_lateness_seconds))
    detectors: dict[str, SensorDetector] = {}
    writer = InfluxWriter(settings)

    publisher = Publisher(settings)

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

    async def clean_batch(batch: list[Any]) -> None:
        now = datetime.now(UTC)
        passed: list[Record] = []
        rejected: list[tuple[Any, Rejection]] = []
        for event in batch:
            result = event.value
            if isinstance(result, Reading):
                result = cleaner.check(result, now)
            if isinstance(result, Reading):
                timing = clocks.judge(result.sensor_id, result.observed_at)
                if isinstance(timing, Rejection):
                    result = timing
                elif timing is not None:
                    result = result.model_copy(update={"quality": (*result.quality, timing)})
            if isinstance(result, Rejection):
                rejected.append((event, result))
            else:
                passed.append((event.key, result.model_dump_json().encode()))
        await publisher.publish(names.clean, passed)
        await reject(rejected, "clean")

    async def score_batch(batch: list[Any]) -> None:
        scored: list[Record] = []
        rejected: list[tuple[Any, Rejection]] = []
        for event in batch:
            reading = event.value
            if isinstance(reading, Rejection):
                rejected.append((event, reading))
                continue
            detector = detectors.get(reading.sensor_id)
            if detector is None:
                detector = detectors[reading.sensor_id] = detector_for(reading.kind)
            scored.append((event.key, score_reading(detector, reading).model_dump_json().encode()))
        await publisher.publish(names.scored, scored)
        await reject(rejected, "score")

    async def sink_batch(batch: list[Any]) -> None:
        good = [e for e in batch if isinstance(e.value, ScoredReading)]
        await reject([(e, e.value) for e in batch if isinstance(e.value, Rejection)], "sink")
        lines = [reading_line(e.value, registry) for e in good]
        try:
            await writer.write(lines)
        except Refused:
            # Find the points InfluxDB will not take; the rest are (re)written idempotently.
            refused = []
            for event, line in zip(good, lines, strict=True):
                try:
                    await writer.write([line])
                except Refused as refusal:
                    refused.append((event, Rejection(Reason.SINK_REJECTED, str(refusal))))
            await reject(refused, "sink")

    # take_events() acknowledges a batch only after the body returns, and each step returns
    # only once Kafka (or InfluxDB) has acknowledged its output: so offsets are committed only
    # for events whose results are safely stored.
    @app.agent(raw, name="clean")
    async def clean(stream: Any) -> None:
        async for batch in stream.take_events(settings.batch_size, within=settings.batch_seconds):
            await guarded(batch, "clean", clean_batch)

    @app.agent(clean_topic, name="score")
    async def score(stream: Any) -> None:
        async for batch in stream.take_events(settings.batch_size, within=settings.batch_seconds):
            await guarded(batch, "score", score_batch)

    @app.agent(scored_topic, name="sink")
    async def sink(stream: Any) -> None:
        async for batch in stream.take_events(settings.sink_batch_size, within=settings.sink_batch_seconds):
            await guarded(batch, "sink", sink_batch)

    app.on_before_shutdown.connect(_closing(writer, publisher))
    return app


def _closing(writer: InfluxWriter, publisher: Publisher) -> Any:
    async def close(app: faust.App, **_: Any) -> None:
        await writer.close()
        await publisher.stop()

    return close
