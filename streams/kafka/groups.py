"""A consumer group as Kafka sees it: its committed offsets, its lag, its state."""

from __future__ import annotations

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError

from streams.kafka.clients import aiokafka_options
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
