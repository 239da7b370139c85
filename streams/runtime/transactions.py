"""Kafka transactions: a batch's outputs, its state's changelogs and its offsets, stored together
or not at all, by a worker no stale copy of itself can overwrite.

aiokafka (0.14) sends a consumer group's offsets in a transaction without the group's generation
(no KIP-447), so the group coordinator cannot refuse a stale member's offsets. Fencing is
therefore by input partition, as Kafka Streams' ``exactly_once`` (alpha) did: partition *p* of a
consumer group's inputs has one transactional id, ``<group>-<p>``, and each worker given *p*
starts a new producer under it. Starting it ends (aborts) the transaction an earlier holder of
*p* left open, and fences that holder: each of its later sends, offsets and commits fails. Its
records stay invisible to every ``read_committed`` consumer, and the log cleaner drops them, so a
stale changelog record never wins compaction.

A failed transaction (fenced, Kafka gone, nothing acknowledged within
``OPENLAB_KAFKA_SEND_STALL_SECONDS``) is aborted where it can be and raised as
:class:`TransactionFailed`; the consumer then treats the partition as lost
(:mod:`streams.runtime.consumer`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

import orjson
from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from streams.kafka.clients import aiokafka_options
from streams.kafka.publisher import Partitioner, Record, send_records
from streams.runtime.batch import Outputs
from streams.settings import Settings

log = logging.getLogger(__name__)

POINTS_PER_RECORD = 200
"""Most points items in one record of the ``points`` topic (a record stays well under a MiB)."""

ABORT_SECONDS = 5.0
"""How long an abort or a producer's stop may take before it is given up (the producer is then
left to be fenced by the next one of its id)."""


class TransactionFailed(Exception):
    """A partition's transaction did not commit: nothing of it is visible, and the partition's
    state in memory is no longer the committed one."""

    def __init__(self, partition: int, cause: BaseException) -> None:
        super().__init__(f"the transaction of partition {partition} failed: {cause!r}")
        self.partition = partition
        self.cause = cause


def transactional_producer(settings: Settings, transactional_id: str) -> AIOKafkaProducer:
    """A producer whose every send belongs to a transaction under ``transactional_id``."""
    return AIOKafkaProducer(
        **aiokafka_options(settings),
        transactional_id=transactional_id,
        linger_ms=5,
        max_batch_size=512 * 1024,
        request_timeout_ms=int(settings.kafka_request_timeout_seconds * 1000),
        transaction_timeout_ms=int(settings.kafka_transaction_timeout_seconds * 1000),
    )


def points_records(out: Outputs) -> list[Record]:
    """A batch's points as records of the ``points`` topic (:mod:`streams.sinks.points` reads
    them back): each item says which step made the points of which event, so the sink can
    dead-letter an event InfluxDB refuses; the summaries go in the first record."""
    items = [
        [
            item.stage,
            item.event.topic,
            item.event.partition,
            item.event.offset,
            None if item.event.key is None else item.event.key.decode("utf-8", "replace"),
            item.event.timestamp,
            item.original.decode("utf-8", "replace"),
            item.lines,
        ]
        for item in out.points
    ]
    records: list[Record] = [
        (None, orjson.dumps({"items": items[start : start + POINTS_PER_RECORD], "summaries": []}))
        for start in range(0, len(items), POINTS_PER_RECORD)
    ]
    if out.summaries:
        first = {"items": items[:POINTS_PER_RECORD], "summaries": out.summaries}
        records[:1] = [(None, orjson.dumps(first))]
    return records


class PartitionTransactions:
    """The transactional producers of one consumer group's partitions in this worker, one per
    input partition, and the transactions of that partition's batches."""

    def __init__(self, settings: Settings, group: str, deadletter: str, points: str) -> None:
        self.settings = settings
        self.group = group
        self.deadletter = deadletter
        self.points = points
        self._producers: dict[int, AIOKafkaProducer] = {}
        self._partitioner = Partitioner()

    def transactional_id(self, partition: int) -> str:
        return f"{self.group}-{partition}"

    async def fence(self, partitions: Iterable[int]) -> None:
        """Start a new producer for each of ``partitions``, fencing every earlier one under its id
        (another worker's, or this one's own) and ending the transaction that one left open."""
        chosen = sorted(set(partitions))
        await self.close(chosen)
        await asyncio.gather(*(self._start(partition) for partition in chosen))

    async def _start(self, partition: int) -> None:
        producer = transactional_producer(self.settings, self.transactional_id(partition))
        try:
            async with asyncio.timeout(self.settings.kafka_send_stall_seconds):
                await producer.start()
                # An empty transaction: returns once the producer has its id and epoch, that is once
                # the earlier holder of the id is fenced and its open transaction ended.
                await producer.begin_transaction()
                await producer.abort_transaction()
        except BaseException:
            await _stop(producer)
            raise
        self._producers[partition] = producer

    async def close(self, partitions: Iterable[int] | None = None) -> None:
        """Stop the producers of ``partitions`` (default: all)."""
        chosen = (
            list(self._producers) if partitions is None else [p for p in partitions if p in self._producers]
        )
        await asyncio.gather(*(_stop(self._producers.pop(partition)) for partition in chosen))

    def holds(self, partition: int) -> bool:
        return partition in self._producers

    async def commit(self, partition: int, out: Outputs, offsets: Mapping[TopicPartition, int]) -> None:
        """Store ``out`` (records, points, dead letters, its state's changelogs on ``partition``)
        and commit ``offsets`` for the group, in one transaction; raise :class:`TransactionFailed`
        if it did not commit (it is aborted)."""
        producer = self._producers.get(partition)
        if producer is None:
            raise TransactionFailed(partition, RuntimeError("no producer: the partition is not held"))
        try:
            async with asyncio.timeout(self.settings.kafka_send_stall_seconds):
                await producer.begin_transaction()
                await asyncio.gather(*self._sends(producer, partition, out))
                if offsets:
                    await producer.send_offsets_to_transaction(dict(offsets), self.group)
                await producer.commit_transaction()
        except (KafkaError, TimeoutError, AssertionError) as error:
            # AssertionError: aiokafka's transaction manager refusing a transition once fenced.
            await self._abort(partition)
            raise TransactionFailed(partition, error) from error

    def _sends(self, producer: AIOKafkaProducer, partition: int, out: Outputs) -> list[asyncio.Future[None]]:
        sends = [self._publish(producer, topic, records) for topic, records in out.records.items() if records]
        sends += [
            send_records(producer, topic, {partition: records})
            for topic, records in out.tables.items()
            if records
        ]
        if out.points or out.summaries:
            sends.append(send_records(producer, self.points, {partition: points_records(out)}))
        if out.rejected:
            sends.append(self._publish(producer, self.deadletter, out.dead_letters(datetime.now(UTC))))
        return [asyncio.ensure_future(send) for send in sends]

    async def _publish(self, producer: AIOKafkaProducer, topic: str, records: list[Record]) -> None:
        await send_records(producer, topic, await self._partitioner.split(producer, topic, records))

    async def _abort(self, partition: int) -> None:
        """Abort the partition's transaction if its producer still can, and stop the producer
        either way: the partition needs a new one (:meth:`fence`) before its next batch."""
        producer = self._producers.pop(partition, None)
        if producer is None:
            return
        try:
            async with asyncio.timeout(ABORT_SECONDS):
                await producer.abort_transaction()
        except (KafkaError, TimeoutError, AssertionError) as error:
            log.info(
                "partition %d of %s: the transaction could not be aborted (%r)", partition, self.group, error
            )
        await _stop(producer)


async def _stop(producer: AIOKafkaProducer) -> None:
    try:
        async with asyncio.timeout(ABORT_SECONDS):
            await producer.stop()
    except (KafkaError, TimeoutError) as error:
        log.warning("a transactional producer did not stop (%r); its id's next producer fences it", error)
