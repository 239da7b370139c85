"""The alert router on the real Kafka: each alarm event of ``alerts`` reaches its owner's topic and
no other, and a record naming no valid owner is dead-lettered, not forwarded."""

from __future__ import annotations

import asyncio

from sensors.cleaning import DeadLetter
from streams.kafka.groups import consumer_lag
from streams.kafka.publisher import Publisher
from streams.kafka.topics import TopicNames, ensure_topics, read_records, read_values
from streams.metrics import PipelineCounters
from streams.pipeline.router import ROUTER_STAGE, AlertRouter
from streams.runtime.consumer import BatchConsumer
from streams.settings import Settings
from tests.feeding import wait_for


async def test_each_alarm_event_reaches_its_owners_topic_and_a_record_naming_no_owner_is_dead_lettered(
    pipeline_settings: Settings,
) -> None:
    settings = pipeline_settings
    names = TopicNames.of(settings)
    seven = [(f"GJ-0000{i}".encode(), b'{"owner_id": "owner-007", "update": %d}' % i) for i in range(3)]
    eight = [(b"GJ-00009", b'{"owner_id": "owner-008", "update": 0}')]
    junk = [(b"GJ-00010", b'{"owner_id": "owner-007/../x"}'), (b"GJ-00011", b"not json")]
    # The owners' topics exist before an alarm names them (the broker creates none on first use).
    await ensure_topics(settings, owners=["owner-007", "owner-008"])
    publisher = Publisher(settings)
    try:
        await publisher.publish(names.alerts, [*seven, *junk, *eight])
        router = AlertRouter(settings)
        worker = BatchConsumer(settings, router, PipelineCounters())
        task = asyncio.create_task(worker.run())

        async def routed() -> bool:
            assert not task.done(), "the router stopped"
            return await consumer_lag(settings, router.group, router.inputs) == 0

        await wait_for("the router committed every alarm event", routed, seconds=60.0)
        await worker.finish()
        await task
    finally:
        await publisher.stop()
    owner_seven = await read_records(settings, names.owner("owner-007"))
    assert sorted((key, value) for _, key, value in owner_seven) == sorted(seven)
    assert await read_values(settings, names.owner("owner-008")) == [eight[0][1]]
    letters = [DeadLetter.model_validate_json(v) for v in await read_values(settings, names.deadletter)]
    assert sorted((letter.key, letter.stage, letter.reason.value) for letter in letters) == [
        ("GJ-00010", ROUTER_STAGE, "schema"),
        ("GJ-00011", ROUTER_STAGE, "not_json"),
    ]
