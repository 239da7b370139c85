"""The pipeline's Kafka topics: their names, their creation, and how many records they hold."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import GroupCoordinatorNotAvailableError, TopicAlreadyExistsError

from streams.kafka.clients import aiokafka_options
from streams.settings import Settings

COMPACTED = {
    "cleanup.policy": "compact",
    "segment.bytes": str(8 * 1024 * 1024),
    "min.cleanable.dirty.ratio": "0.2",
}
"""The configuration of a topic that keeps the latest record of every key. Small segments let
the cleaner keep up with a record per sensor per batch, so a worker restoring state reads little
more than the latest record of each sensor."""


OWNER_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
"""What an owner id may be: it names a topic (:meth:`TopicNames.owner`), a Kafka user and a
group prefix."""


@dataclass(frozen=True, slots=True)
class TopicNames:
    """Full topic names for one settings object (the prefix isolates tests and second stacks)."""

    raw: str
    clean: str
    scored: str
    deadletter: str
    quality: str
    """Sensor health episodes (key = sensor_id, value = HealthEvent JSON)."""
    checkpoints: str
    """Detector checkpoints, compacted (key = sensor_id, value = models.detectors.checkpoint bytes)."""
    state: str
    """Each sensor's health and alarm state, compacted (key = sensor_id, value = JSON): the
    changelog of :class:`streams.pipeline.state.SensorStates`."""
    commands: str
    """Operators' acknowledgements and clearances of alarms (key = sensor_id)."""
    neighbours: str
    """What an alarm tells the other sensors of its site (key = the other sensor's id, value =
    :class:`models.alarms.neighbours.SpeedFell` JSON): the worker holding each one's state reads it."""
    alerts: str
    labels: str
    """Ground truth of the simulator's injected anomalies (key = sensor_id, value = Label JSON)."""

    @classmethod
    def of(cls, settings: Settings) -> TopicNames:
        return cls(
            raw=settings.topic("readings.raw"),
            clean=settings.topic("readings.clean"),
            scored=settings.topic("readings.scored"),
            deadletter=settings.topic("readings.deadletter"),
            quality=settings.topic("quality"),
            checkpoints=settings.topic("detectors.checkpoints"),
            state=settings.topic("sensors.state"),
            commands=settings.topic("alerts.commands"),
            neighbours=settings.topic("alerts.neighbours"),
            alerts=settings.topic("alerts"),
            labels=settings.topic("labels"),
        )

    def owner(self, owner_id: str) -> str:
        """The alarm topic of one site owner (key = site_id), which only that owner may read."""
        return f"{self.alerts}.owner.{owner_id}"

    def all(self) -> tuple[str, ...]:
        return (
            self.raw,
            self.clean,
            self.scored,
            self.deadletter,
            self.quality,
            self.checkpoints,
            self.state,
            self.commands,
            self.neighbours,
            self.alerts,
            self.labels,
        )


async def ensure_topics(
    settings: Settings, more: Iterable[str] = (), compacted: Iterable[str] = ()
) -> list[str]:
    """Create the pipeline's topics, and the topics ``more``, that do not exist yet, all with the
    pipeline's partition count; return the names created. The pipeline's changelogs, and the
    topics ``compacted``, keep only the latest record of each key."""
    admin = AIOKafkaAdminClient(**aiokafka_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        names = TopicNames.of(settings)
        keep_latest = {names.checkpoints, names.state, *compacted}
        wanted = [
            NewTopic(
                name,
                settings.partitions,
                settings.replication_factor,
                topic_configs=COMPACTED if name in keep_latest else {},
            )
            for name in dict.fromkeys((*names.all(), *more, *compacted))
            if name not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
            await _wait_for_leaders(admin, [topic.name for topic in wanted])
        return [topic.name for topic in wanted]
    finally:
        await admin.close()


async def delete_topics(settings: Settings, seconds: float = 60.0) -> list[str]:
    """Delete every topic whose name starts with ``settings.topic_prefix`` (a run's own: a
    benchmark's, a chaos run's); return their names once the broker no longer lists them (it
    deletes in the background), or raise ``TimeoutError`` after ``seconds``. An empty prefix is
    refused: it would name the city's own topics."""
    if not settings.topic_prefix:
        raise ValueError("deleting topics needs a topic prefix of their own")
    admin = AIOKafkaAdminClient(**aiokafka_options(settings))
    await admin.start()
    try:
        doomed = await _topics_of(admin, settings.topic_prefix)
        if doomed:
            await admin.delete_topics(doomed)
        deadline = asyncio.get_running_loop().time() + seconds
        while await _topics_of(admin, settings.topic_prefix):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"topics {settings.topic_prefix}* still listed after {seconds:.0f} s")
            await asyncio.sleep(0.2)
        return doomed
    finally:
        await admin.close()


async def _topics_of(admin: AIOKafkaAdminClient, prefix: str) -> list[str]:
    return sorted(topic for topic in await admin.list_topics() if topic.startswith(prefix))


async def _wait_for_leaders(admin: AIOKafkaAdminClient, topics: list[str], seconds: float = 30.0) -> None:
    """Return once every partition of ``topics`` has a leader. A consumer group that forms
    before then is assigned none of their partitions, and waits for its next metadata refresh
    (five minutes) to be given work."""
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        described = await admin.describe_topics(topics)
        if all(
            topic["error_code"] == 0
            and topic["partitions"]
            and all(partition["leader"] >= 0 for partition in topic["partitions"])
            for topic in described
        ):
            return
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"topics without leaders after {seconds:.0f} s: {', '.join(topics)}")
        await asyncio.sleep(0.2)


async def end_offsets(settings: Settings, topics: tuple[str, ...]) -> dict[TopicPartition, int]:
    """The next offset to be written on every partition of ``topics``."""
    admin = AIOKafkaAdminClient(**aiokafka_options(settings))
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    partitions = [
        TopicPartition(topic["topic"], partition["partition"])
        for topic in described
        if topic["error_code"] == 0
        for partition in topic["partitions"]
    ]
    if not partitions:
        return {}
    consumer = AIOKafkaConsumer(**aiokafka_options(settings))
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def record_counts(settings: Settings, topics: tuple[str, ...]) -> dict[str, int]:
    """How many records each topic holds: the sum over partitions of the end offsets."""
    counts = dict.fromkeys(topics, 0)
    for tp, offset in (await end_offsets(settings, topics)).items():
        counts[tp.topic] += offset
    return counts


async def consumer_lag(settings: Settings, group: str, topics: tuple[str, ...]) -> int | None:
    """Records on ``topics`` that consumer group ``group`` has not yet committed.

    ``None`` while the broker cannot say yet (its group coordinator is still starting).
    """
    ends = await end_offsets(settings, topics)
    done = await committed_offsets(settings, group)
    if done is None:
        return None
    return sum(max(0, end - done.get(tp, 0)) for tp, end in ends.items())


async def committed_offsets(settings: Settings, group: str) -> dict[TopicPartition, int] | None:
    """The offsets consumer group ``group`` has committed, by partition; ``None`` while the
    broker cannot say yet (its group coordinator is still starting)."""
    admin = AIOKafkaAdminClient(**aiokafka_options(settings))
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
    except GroupCoordinatorNotAvailableError:
        return None
    finally:
        await admin.close()
    return {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}


async def read_records(
    settings: Settings,
    topic: str,
    since: dict[TopicPartition, int] | None = None,
    partitions: set[int] | None = None,
) -> list[tuple[int, bytes | None, bytes | None]]:
    """Every ``(partition, key, value)`` on ``topic`` (on ``partitions`` only, if given) from the
    offsets ``since`` (default: the start) to its current end, partition by partition in offset
    order.

    Tombstones (records without a value) are included, with ``None`` as the value.
    """
    since = since or {}
    ends = {
        tp: end
        for tp, end in (await end_offsets(settings, (topic,))).items()
        if end > since.get(tp, 0) and (partitions is None or tp.partition in partitions)
    }
    if not ends:
        return []
    consumer = AIOKafkaConsumer(**aiokafka_options(settings), enable_auto_commit=False)
    await consumer.start()
    records: dict[TopicPartition, list[tuple[int, bytes | None, bytes | None]]] = {tp: [] for tp in ends}
    try:
        consumer.assign(list(ends))
        for tp in ends:
            consumer.seek(tp, since.get(tp, 0))
        pending = set(ends)
        while pending:
            batches: dict[TopicPartition, list[Any]] = await consumer.getmany(*pending, timeout_ms=2000)
            if not batches:
                # Compaction can leave a partition's last offsets empty: check where we are.
                for tp in list(pending):
                    if await consumer.position(tp) >= ends[tp]:
                        pending.discard(tp)
                continue
            for tp, batch in batches.items():
                records[tp].extend((tp.partition, r.key, r.value) for r in batch if r.offset < ends[tp])
                if batch[-1].offset + 1 >= ends[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()
    return [record for tp in sorted(records, key=lambda tp: tp.partition) for record in records[tp]]


async def latest_records(
    settings: Settings, topic: str, partitions: set[int]
) -> dict[bytes, tuple[int, bytes | None]]:
    """The latest ``(partition, value)`` of every key on the ``partitions`` of a compacted
    ``topic`` (what a worker restores when it is given those partitions)."""
    latest: dict[bytes, tuple[int, bytes | None]] = {}
    for partition, key, value in await read_records(settings, topic, partitions=partitions):
        if key is not None:
            latest[key] = (partition, value)
    return latest


async def read_values(
    settings: Settings, topic: str, since: dict[TopicPartition, int] | None = None
) -> list[bytes]:
    """The values of :func:`read_records`, without tombstones."""
    return [value for _, _, value in await read_records(settings, topic, since) if value is not None]


async def group_state(settings: Settings, group: str) -> tuple[str, int]:
    """The state of consumer group ``group`` (``Stable``, ``PreparingRebalance``, ``Empty``,
    ...) and how many members it has."""
    admin = AIOKafkaAdminClient(**aiokafka_options(settings))
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    (described,) = response.to_object()["groups"]
    return str(described["state"]), len(described["members"])
