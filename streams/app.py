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
from sensors.reading import Reading
from sensors.sites import SiteRegistry
from streams.influx import InfluxWriter, Refused, reading_line
from streams.schema import ModelSchema
from streams.settings import Settings
from streams.topics import TopicNames

log = logging.getLogger(__name__)


def build_app(settings: Settings, registry: SiteRegistry) -> faust.App:
    """The worker's app for one city and one set of settings."""
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap_servers}",
        store="memory://",
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
    deadletter = app.topic(names.deadletter, schema=ModelSchema(DeadLetter))
    cleaner = Cleaner(registry, max_future=timedelta(seconds=settings.max_future_seconds))
    detectors: dict[str, SensorDetector] = {}
    writer = InfluxWriter(settings)

    async def reject(event: Any, rejection: Rejection, stage: str) -> None:
        message = event.message
        letter = DeadLetter.of(
            rejection,
            stage=stage,
            original=message.value or b"",
            key=message.key,
            source=(message.topic, message.partition, message.offset),
            at=datetime.now(UTC),
        )
        await deadletter.send(key=message.key, value=letter)

    async def guarded(work: Any, stage: str, step: Callable[[Any], Awaitable[None]]) -> None:
        # A bug in the logic must not lose events: they go to the dead letters with the error.
        try:
            await step(work)
        except Exception as error:
            log.exception("%s failed", stage)
            rejection = Rejection(Reason.INTERNAL_ERROR, f"{type(error).__name__}: {error}")
            for event in work if isinstance(work, list) else [work]:
                await reject(event, rejection, stage)

    async def clean_one(event: Any) -> None:
        result = event.value
        if isinstance(result, Reading):
            result = cleaner.check(result, datetime.now(UTC))
        if isinstance(result, Rejection):
            await reject(event, result, "clean")
        else:
            await clean_topic.send(key=event.key, value=result)

    async def score_one(event: Any) -> None:
        reading = event.value
        if isinstance(reading, Rejection):
            await reject(event, reading, "score")
            return
        detector = detectors.get(reading.sensor_id)
        if detector is None:
            detector = detectors[reading.sensor_id] = detector_for(reading.kind)
        await scored_topic.send(key=event.key, value=score_reading(detector, reading))

    @app.agent(raw, name="clean")
    async def clean(stream: Any) -> None:
        async for event in stream.events():
            await guarded(event, "clean", clean_one)

    @app.agent(clean_topic, name="score")
    async def score(stream: Any) -> None:
        async for event in stream.events():
            await guarded(event, "score", score_one)

    async def sink_batch(batch: list[Any]) -> None:
        good = [e for e in batch if isinstance(e.value, ScoredReading)]
        for event in batch:
            if isinstance(event.value, Rejection):
                await reject(event, event.value, "sink")
        lines = [reading_line(e.value, registry) for e in good]
        try:
            await writer.write(lines)
        except Refused:
            # Find the points InfluxDB will not take; the rest are (re)written idempotently.
            for event, line in zip(good, lines, strict=True):
                try:
                    await writer.write([line])
                except Refused as refusal:
                    await reject(event, Rejection(Reason.SINK_REJECTED, str(refusal)), "sink")

    @app.agent(scored_topic, name="sink")
    async def sink(stream: Any) -> None:
        # take_events() acknowledges a batch only after this body returns: write inside it.
        async for batch in stream.take_events(settings.sink_batch_size, within=settings.sink_batch_seconds):
            await guarded(batch, "sink", sink_batch)

    app.on_before_shutdown.connect(_closing(writer))
    return app


def _closing(writer: InfluxWriter) -> Any:
    async def close(app: faust.App, **_: Any) -> None:
        await writer.close()

    return close
