"""The pipeline's Kafka topics: their names, their creation, and how many records they hold."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from sensors.sites import SiteRegistry
from streams.kafka.clients import aiokafka_options
from streams.kafka.topic_checks import TopicNeeds, describe, refuse_mismatches
from streams.settings import Settings

COMPACTED = {
    "cleanup.policy": "compact",
    "segment.bytes": str(8 * 1024 * 1024),
    "min.cleanable.dirty.ratio": "0.2",
}
"""The configuration of a topic that keeps the latest record of every key. Small segments let
the cleaner keep up with a record per sensor per batch, so a worker restoring state reads little
more than the latest record of each sensor."""


OWNER_PARTITIONS = 1
"""An owner's alarm topic has one partition: a few alarms an hour, in one order. With the
pipeline's count instead, a city of 297 owners on 12 partitions made 3,564 partitions, and a
broker that also kept a test suite's topics ran out of file descriptors."""


OWNER_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
"""What an owner id may be: it names a topic (:meth:`TopicNames.owner`), a Kafka user and a
group prefix."""

OWNER_ID = re.compile(OWNER_ID_PATTERN)


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
    points: str
    """The InfluxDB points of committed batches, which the sink writes (value: see
    :func:`streams.runtime.transactions.points_records`)."""

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
            points=settings.topic("points"),
        )

    def owner(self, owner_id: str) -> str:
        """The alarm topic of one site owner (key = site_id), which only that owner may read."""
        return f"{self.alerts}.owner.{owner_id}"

    def partitioned_alike(self) -> tuple[str, ...]:
        """The topics whose partition *p* goes with partition *p* of the others (same key, same
        partition count): what the pass and the agents consume, and the changelogs of their
        state, which a worker restores for the partitions it is given."""
        return (
            self.raw,
            self.clean,
            self.scored,
            self.checkpoints,
            self.state,
            self.commands,
            self.neighbours,
        )

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
            self.points,
        )


async def ensure_topics(
    settings: Settings,
    more: Iterable[str] = (),
    compacted: Iterable[str] = (),
    owners: Iterable[str] = (),
) -> list[str]:
    """Create the pipeline's topics, the topics ``more`` and the alarm topics of ``owners``
    (:meth:`TopicNames.owner`) that do not exist yet, with the pipeline's partition count (an
    owner's: :data:`OWNER_PARTITIONS`), and wait for their leaders; return the names created.
    The pipeline's changelogs, and the topics ``compacted``, keep only the latest record of each
    key.

    The broker creates no topic on first use (``auto.create.topics.enable=false``): a topic a
    client sends to or subscribes to must have been made here first. Those that exist already
    are checked: every topic partitioned alike (:meth:`TopicNames.partitioned_alike`, ``more``,
    ``compacted``) must have the pipeline's partition count, and every changelog must be
    compacted, or :class:`~streams.kafka.topic_checks.TopicMismatchError` says which is not.
    """
    names = TopicNames.of(settings)
    keep_latest = {names.checkpoints, names.state, *compacted}
    alike = {*names.partitioned_alike(), *more, *compacted}
    owned = {names.owner(owner) for owner in owners}
    needs = {
        name: TopicNeeds(settings.partitions if name in alike else None, name in keep_latest)
        for name in (*names.all(), *more, *compacted, *(names.owner(owner) for owner in owners))
    }
    admin = AIOKafkaAdminClient(**aiokafka_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        found = [name for name in needs if name in existing]
        refuse_mismatches(
            needs, await describe(admin, found, [name for name in found if needs[name].compacted])
        )
        wanted = [
            NewTopic(
                name,
                settings.partitions if name not in owned else OWNER_PARTITIONS,
                settings.replication_factor,
                topic_configs=COMPACTED if need.compacted else {},
            )
            for name, need in needs.items()
            if name not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
            await _wait_for_leaders(admin, [topic.name for topic in wanted])
        return [topic.name for topic in wanted]
    finally:
        await admin.close()


async def ensure_city_topics(settings: Settings, registry: SiteRegistry) -> list[str]:
    """:func:`ensure_topics` for a worker of the city ``registry``: the pipeline's topics and
    the alarm topic of every owner the registry names, which the alert router sends to; return
    the names created. An owner id no topic can be named after gets none: the router
    dead-letters its alarms."""
    owners = sorted({site.owner_id for site in registry.sites if OWNER_ID.match(site.owner_id)})
    return await ensure_topics(settings, owners=owners)


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


async def topics_of(settings: Settings, prefix: str) -> list[str]:
    """The names of the broker's topics that start with ``prefix``."""
    admin = AIOKafkaAdminClient(**aiokafka_options(settings))
    await admin.start()
    try:
        return await _topics_of(admin, prefix)
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


async def end_offsets(
    settings: Settings, topics: tuple[str, ...], committed_only: bool = False
) -> dict[TopicPartition, int]:
    """The next offset to be written on every partition of ``topics`` (``committed_only``: the
    last stable offset, before which every transaction has ended). A topic the broker cannot
    describe raises ``UnknownTopicOrPartitionError`` (or its error) rather than count as empty."""
    admin = AIOKafkaAdminClient(**aiokafka_options(settings))
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    for topic in described:
        if topic["error_code"] != 0:
            raise for_code(topic["error_code"])(f"topic {topic['topic']}")
    partitions = [
        TopicPartition(topic["topic"], partition["partition"])
        for topic in described
        for partition in topic["partitions"]
    ]
    if not partitions:
        return {}
    isolation = "read_committed" if committed_only else "read_uncommitted"
    consumer = AIOKafkaConsumer(**aiokafka_options(settings), isolation_level=isolation)
    await consumer.start()
    try:
        return dict(await consumer.end_offsets(partitions))
    finally:
        await consumer.stop()


async def record_counts(settings: Settings, topics: tuple[str, ...]) -> dict[str, int]:
    """The sum over each topic's partitions of the end offsets: its records, and on a topic
    written in transactions one marker per transaction and partition too (:func:`count_records`
    counts the records alone, by reading them)."""
    counts = dict.fromkeys(topics, 0)
    for tp, offset in (await end_offsets(settings, topics)).items():
        counts[tp.topic] += offset
    return counts


async def read_records(
    settings: Settings,
    topic: str,
    since: dict[TopicPartition, int] | None = None,
    partitions: set[int] | None = None,
) -> list[tuple[int, bytes | None, bytes | None]]:
    """Every committed ``(partition, key, value)`` on ``topic`` (on ``partitions`` only, if given)
    from the offsets ``since`` (default: the start) to its last stable offset, partition by
    partition in offset order: the records of aborted transactions (a fenced worker's) are left
    out, and so are those of a transaction still open.

    Tombstones (records without a value) are included, with ``None`` as the value.
    """
    records: dict[int, list[tuple[int, bytes | None, bytes | None]]] = defaultdict(list)
    async for tp, batch in committed_batches(settings, topic, since, partitions):
        records[tp.partition].extend((tp.partition, r.key, r.value) for r in batch)
    return [record for partition in sorted(records) for record in records[partition]]


async def count_records(
    settings: Settings, topic: str, since: dict[TopicPartition, int] | None = None
) -> int:
    """How many committed records ``topic`` holds from the offsets ``since`` (default: the start):
    its offsets count transaction markers and aborted records too."""
    count = 0
    async for _, batch in committed_batches(settings, topic, since):
        count += len(batch)
    return count


async def committed_batches(
    settings: Settings,
    topic: str,
    since: dict[TopicPartition, int] | None = None,
    partitions: set[int] | None = None,
) -> AsyncIterator[tuple[TopicPartition, list[Any]]]:
    """The committed records of ``topic`` from ``since`` to its last stable offset, as the
    consumer fetches them (see :func:`read_records`)."""
    since = since or {}
    ends = {
        tp: end
        for tp, end in (await end_offsets(settings, (topic,), committed_only=True)).items()
        if end > since.get(tp, 0) and (partitions is None or tp.partition in partitions)
    }
    if not ends:
        return
    consumer = AIOKafkaConsumer(
        **aiokafka_options(settings),
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        consumer.assign(list(ends))
        for tp in ends:
            if tp in since:
                consumer.seek(tp, since[tp])
            else:
                await consumer.seek_to_beginning(tp)
        pending = set(ends)
        while pending:
            batches: dict[TopicPartition, list[Any]] = await consumer.getmany(*pending, timeout_ms=500)
            for tp, batch in batches.items():
                yield tp, [r for r in batch if r.offset < ends[tp]]
            # Compaction, transaction markers and aborted records leave offsets no record is
            # returned at: where the consumer stands says when a partition is done.
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()


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
