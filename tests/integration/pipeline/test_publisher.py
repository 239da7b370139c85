"""The publisher on the real Kafka: sends a stalled producer never acknowledges go again through a
new one."""

from __future__ import annotations

import asyncio
import logging

import pytest

from streams.kafka.publisher import Publisher
from streams.kafka.topics import TopicNames, read_values
from streams.settings import Settings


async def test_sends_a_stalled_producer_never_acknowledges_go_again_through_a_new_one(
    pipeline_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings = pipeline_settings.model_copy(update={"kafka_send_stall_seconds": 2.0})
    topic = TopicNames.of(settings).scored
    publisher = Publisher(settings)
    try:
        await publisher.publish(topic, [(b"S-1", b"before")])
        stalled = publisher.producer
        # The stall seen in chaos runs, made on purpose: the producer's sender no longer sends,
        # and no error says so.
        stalled._sender.sender_task.cancel()
        with caplog.at_level(logging.WARNING, logger="streams.kafka.publisher"):
            sent = await asyncio.wait_for(publisher.publish(topic, [(b"S-1", b"after")]), 30.0)
        assert sent == 1
        assert publisher.producer is not stalled
    finally:
        await publisher.stop()
    assert "sending again through a new producer" in caplog.text
    assert await read_values(settings, topic) == [b"before", b"after"]
