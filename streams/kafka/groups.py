"""A consumer group as Kafka sees it: its committed offsets, its lag, its state."""

from __future__ import annotations

import asyncio

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException
from confluent_kafka import TopicPartition as ConfluentPartition
from confluent_kafka.admin import AdminClient

from streams.kafka.clients import aiokafka_options, librdkafka_config
from streams.kafka.topics import end_offsets
from streams.settings import Settings


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


class UnstableOffsets(Exception):
    """The group has offsets in a transaction not ended yet (or the broker could not say)."""


async def stable_offsets(
    settings: Settings, group: str, partitions: list[TopicPartition]
) -> dict[TopicPartition, int | None]:
    """The offsets ``group`` has committed on ``partitions`` (``None``: none), once no transaction
    that commits offsets of theirs is still open: Kafka answers a plain offset fetch with the
    offsets before such a transaction even after it committed, until the group coordinator has
    taken in its marker, and a worker that took over a partition from there would take its last
    batch again. Raises :class:`UnstableOffsets` while one is still open.

    Asked with librdkafka's admin client (aiokafka's offset fetch stops at a version without
    ``require_stable``), a new one each time: one made before a broker restart timed out on every
    request after it, here.
    """
    admin = AdminClient(librdkafka_config(settings))
    request = ConsumerGroupTopicPartitions(
        group, [ConfluentPartition(tp.topic, tp.partition) for tp in partitions]
    )
    futures = admin.list_consumer_group_offsets([request], require_stable=True, request_timeout=10.0)
    try:
        answer = await asyncio.wrap_future(futures[group])
    except KafkaException as error:
        raise UnstableOffsets(f"group {group}: {error}") from error
    offsets: dict[TopicPartition, int | None] = {}
    for found in answer.topic_partitions:
        if found.error is not None:
            raise UnstableOffsets(f"group {group}, {found.topic}-{found.partition}: {found.error}")
        offsets[TopicPartition(found.topic, found.partition)] = found.offset if found.offset >= 0 else None
    return offsets
