"""The publisher on the real Kafka: sends a stalled producer never acknowledges go again through a
new one."""

from __future__ import annotations

import asyncio
import gc
import logging
import socket

import pytest
from aiokafka.errors import KafkaConnectionError

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


async def test_a_producer_that_could_not_connect_is_closed_not_left_open(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        nowhere = probe.getsockname()[1]  # a port nothing listens on once the probe is closed
    publisher = Publisher(Settings(kafka_port=nowhere))
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        with pytest.raises(KafkaConnectionError):
            await publisher.start()
        gc.collect()
        await asyncio.sleep(0)
    assert "Unclosed AIOKafkaProducer" not in caplog.text
