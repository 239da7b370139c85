"""The pipeline's topics on the real Kafka: the broker makes none on first use, a city's owners'
alarm topics exist before any alarm names them, and topics found partitioned or compacted
otherwise than the pipeline needs stop it at start (the comparison alone:
tests/unit/streams/test_topic_checks.py)."""

from __future__ import annotations

import uuid

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError

from streams.city import load_city
from streams.kafka.clients import aiokafka_options
from streams.kafka.topic_checks import TopicMismatchError
from streams.kafka.topics import (
    OWNER_PARTITIONS,
    TopicNames,
    delete_topics,
    end_offsets,
    ensure_city_topics,
    ensure_topics,
    topics_of,
)
from streams.settings import Settings

pytestmark = pytest.mark.services


async def test_a_send_to_a_topic_nobody_made_fails_and_makes_no_topic(pipeline_settings: Settings) -> None:
    settings = pipeline_settings
    missing = TopicNames.of(settings).owner("owner-nobody-granted")
    producer = AIOKafkaProducer(**aiokafka_options(settings), request_timeout_ms=3000)
    await producer.start()
    try:
        with pytest.raises(KafkaError):
            await producer.send_and_wait(missing, b"an alarm")
    finally:
        await producer.stop()
    assert missing not in await _all_topics(settings)


async def test_every_owner_of_the_city_has_its_alarm_topic_before_a_worker_starts(
    pipeline_settings: Settings,
) -> None:
    settings = pipeline_settings  # made by streams.testing.isolated, as every test's
    names = TopicNames.of(settings)
    owners = {site.owner_id for site in load_city(settings).sites}
    assert len(owners) > 1
    partitions = await end_offsets(settings, tuple(names.owner(owner) for owner in sorted(owners)))
    assert {tp.topic for tp in partitions} == {names.owner(owner) for owner in owners}
    assert len(partitions) == len(owners) * OWNER_PARTITIONS
    # Again: nothing to make, nothing refused.
    assert await ensure_city_topics(settings, load_city(settings)) == []


async def test_topics_partitioned_or_compacted_otherwise_stop_the_start(stack_settings: Settings) -> None:
    run = f"t{uuid.uuid4().hex[:10]}"
    settings = stack_settings.model_copy(update={"topic_prefix": f"{run}.", "partitions": 4})
    names = TopicNames.of(settings)
    admin = AIOKafkaAdminClient(**aiokafka_options(settings))
    await admin.start()
    try:
        # As a broker's first use, or a hand, would have made them.
        await admin.create_topics([NewTopic(names.raw, 2, 1), NewTopic(names.state, 4, 1)])
    finally:
        await admin.close()
    try:
        with pytest.raises(TopicMismatchError) as refused:
            await ensure_topics(settings)
        message = str(refused.value)
        assert f"topic '{names.raw}' has 2 partitions and needs 4" in message
        assert f"topic '{names.state}' has cleanup.policy=delete and needs cleanup.policy=compact" in message
        assert names.checkpoints not in message
        # Nothing else was made meanwhile: the start stopped before creating anything.
        assert {topic for topic in await _all_topics(settings) if topic.startswith(run)} == {
            names.raw,
            names.state,
        }
    finally:
        await delete_topics(settings)


async def _all_topics(settings: Settings) -> set[str]:
    return set(await topics_of(settings, ""))
