"""Publishing batches of records to Kafka, returning only once Kafka has acknowledged all of them.

Records are partitioned by key exactly as Kafka's Java client does (murmur2), so one sensor's
readings always land on one partition, whoever produced them. Building one record batch per
partition, instead of queueing records one by one, is what lets a Python worker keep up with a
city: the per-record cost falls from tens of microseconds to a few.

The doors (the feed, the MQTT gateway, HTTP ingest, replay) publish with it; the workers' batches
go in transactions instead (:mod:`streams.runtime.transactions`). Sends that Kafka has not
acknowledged within ``kafka_send_stall_seconds`` are sent again through a new producer: an
aiokafka producer whose sender task has ended sends nothing and says nothing
(aio-libs/aiokafka#1039; ``tests/integration/pipeline/test_publisher.py`` makes one), and its
sends would wait for ever. A record whose first send did arrive is then on its topic twice, which
the pass's cleaning takes as a replay of the sensor's sequence number. After
``kafka_request_timeout_seconds`` a send fails.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, KafkaTimeoutError
from aiokafka.partitioner import DefaultPartitioner

from streams.kafka.clients import aiokafka_options
from streams.settings import Settings

log = logging.getLogger(__name__)

Record = tuple[bytes | None, bytes]

STOP_SECONDS = 5.0
"""How long a stalled producer is given to stop before it is left behind."""


def producer_for(settings: Settings) -> AIOKafkaProducer:
    """A producer that waits for every replica and never writes a record twice on retry."""
    return AIOKafkaProducer(
        **aiokafka_options(settings),
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=512 * 1024,
        request_timeout_ms=int(settings.kafka_request_timeout_seconds * 1000),
    )


class Partitioner:
    """The partition of each record's key, as Kafka's Java client computes it (murmur2), computed
    once per topic and key (murmur2 is pure Python here); a record without a key goes to the
    partitioner's choice."""

    def __init__(self) -> None:
        self._partitioner = DefaultPartitioner()
        self._partitions: dict[str, list[int]] = {}
        self._partition_of: dict[str, dict[bytes, int]] = {}

    async def split(
        self, producer: AIOKafkaProducer, topic: str, records: Sequence[Record]
    ) -> dict[int, list[Record]]:
        """``records`` by the partition of ``topic`` each goes to."""
        partitions = self._partitions.get(topic)
        if partitions is None:
            partitions = self._partitions[topic] = sorted(await producer.partitions_for(topic))
        known = self._partition_of.setdefault(topic, {})
        by_partition: dict[int, list[Record]] = defaultdict(list)
        for key, value in records:
            partition = known.get(key) if key is not None else None
            if partition is None:
                partition = int(self._partitioner(key, partitions, partitions))
                if key is not None:
                    known[key] = partition
            by_partition[partition].append((key, value))
        return by_partition


async def send_records(
    producer: AIOKafkaProducer, topic: str, by_partition: Mapping[int, Sequence[Record]]
) -> None:
    """Send records to the partitions given, one record batch per partition (and more when one
    is full); return once Kafka acknowledged them all."""
    deliveries = []
    for partition, items in by_partition.items():
        batch = producer.create_batch()
        for key, value in items:
            if batch.append(key=key, value=value, timestamp=None) is None:
                deliveries.append(await producer.send_batch(batch, topic, partition=partition))
                batch = producer.create_batch()
                batch.append(key=key, value=value, timestamp=None)
        deliveries.append(await producer.send_batch(batch, topic, partition=partition))
    for delivery in deliveries:
        # A send given up on (its transaction aborted, its producer fenced or replaced) fails
        # later, with no one waiting: its error is the transaction's, already handled.
        delivery.add_done_callback(_retrieved)
    await asyncio.gather(*deliveries)


def _retrieved(delivery: asyncio.Future[object]) -> None:
    if not delivery.cancelled():
        delivery.exception()


class Publisher:
    """Sends batches of ``(key, value)`` records to a topic and waits for their acknowledgement."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._partitioner = Partitioner()
        self._starting = asyncio.Lock()

    @property
    def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("the publisher is not started")
        return self._producer

    async def start(self) -> None:
        """Connect (an aiokafka producer must be made inside the running event loop)."""
        async with self._starting:
            if self._producer is None:
                producer = producer_for(self.settings)
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()  # its client, which connected to nothing
                    raise
                self._producer = producer

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def _replace(self, stalled: AIOKafkaProducer) -> None:
        """Put a new producer in place of ``stalled`` (unless another send already has)."""
        async with self._starting:
            replaced = self._producer is not stalled
            if not replaced:
                self._producer = None
        if replaced:
            return
        try:
            await asyncio.wait_for(stalled.stop(), STOP_SECONDS)
        except (TimeoutError, KafkaError) as error:
            log.warning("the stalled Kafka producer did not stop (%r); it is left behind", error)

    async def publish(self, topic: str, records: Sequence[Record]) -> int:
        """Send ``records`` to ``topic``; return their count once Kafka has acknowledged them all."""
        await self.start()
        return await self.publish_to_partitions(
            topic, await self._partitioner.split(self.producer, topic, records)
        )

    async def publish_to_partitions(self, topic: str, by_partition: Mapping[int, Sequence[Record]]) -> int:
        """Send records to the partitions given (whatever their keys); return their count once
        Kafka has acknowledged them all. Raises ``KafkaTimeoutError`` once
        ``OPENLAB_KAFKA_REQUEST_TIMEOUT_SECONDS`` passed without."""
        stall = self.settings.kafka_send_stall_seconds
        deadline = asyncio.get_running_loop().time() + self.settings.kafka_request_timeout_seconds
        while True:
            if asyncio.get_running_loop().time() > deadline:
                raise KafkaTimeoutError(f"Kafka took no send to {topic} within the request timeout")
            try:
                await self.start()
            except KafkaError as error:
                log.warning("cannot connect a Kafka producer (%r); trying again", error)
                await asyncio.sleep(1.0)
                continue
            producer = self.producer
            try:
                await asyncio.wait_for(send_records(producer, topic, by_partition), stall)
            except TimeoutError:
                log.warning(
                    "Kafka acknowledged no send to %s within %.0f s: sending again through a new producer",
                    topic,
                    stall,
                )
                await self._replace(producer)
                continue
            return sum(len(items) for items in by_partition.values())
