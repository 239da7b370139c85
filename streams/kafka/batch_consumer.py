"""Consuming in batches, at least once: the loop the pass, the agents and the alert router share.

A :class:`BatchConsumer` is one member of a consumer group. It fetches a batch, hands it to
:meth:`BatchConsumer.take` (which returns once every output of the batch was accepted) and only
then commits the batch's offsets. Offsets are committed by it alone, partition *p* of every
topic goes to the same member (a range assignment: every topic of one consumer is keyed alike),
and a rebalance waits for the batch in hand. A batch fetched before a rebalance is not taken:
its partitions go back to their first offsets, to be fetched again by whoever holds them now.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError, KafkaError

from streams.kafka.clients import aiokafka_options
from streams.pipeline.batch import Event
from streams.settings import Settings

log = logging.getLogger(__name__)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: BatchConsumer) -> None:
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self.consumer.revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self.consumer.assigned({tp.partition for tp in assigned})


class BatchConsumer:
    """Consumes ``topics`` in the consumer group ``group``, batch by batch, committing each batch
    once :meth:`take` returned. Subclasses say what a batch becomes (:meth:`take`) and what a
    rebalance means for the state they keep (:meth:`on_revoked`, :meth:`on_assigned`)."""

    def __init__(self, settings: Settings, group: str, topics: Sequence[str]) -> None:
        self.settings = settings
        self.group = group
        self.topics = list(topics)
        self.consumer: AIOKafkaConsumer | None = None
        self.partitions: frozenset[int] = frozenset()
        self._lock = asyncio.Lock()
        self._generation = 0
        self._finishing = asyncio.Event()
        self._finished = asyncio.Event()
        self._committed: dict[TopicPartition, int] = {}

    def consumer_options(self) -> dict[str, Any]:
        """Options of the consumer beside those every batch consumer has."""
        return {}

    async def prepare(self) -> None:
        """Before the consumer starts (e.g. make the topics it needs)."""

    async def take(self, events: Sequence[Event]) -> None:
        """Make a batch's outputs; return once every one was accepted."""
        raise NotImplementedError

    async def between_batches(self) -> None:
        """After each fetch (with or without events), with no batch in hand."""

    async def on_revoked(self, partitions: set[int]) -> None:
        """Before a rebalance, after the batch in hand: ``partitions`` may move elsewhere."""

    async def on_assigned(self, gone: set[int], new: set[int]) -> None:
        """After a rebalance: the partitions given up and those taken over."""

    async def finish(self) -> None:
        """Stop consuming once the batch in hand is committed; return when it is."""
        self._finishing.set()
        await self._finished.wait()

    async def run(self) -> None:
        """Consume until :meth:`finish` (or cancelled)."""
        try:
            await self._consume()
        finally:
            self._finished.set()

    async def _consume(self) -> None:
        await self.prepare()
        batch_ms = int(self.settings.batch_seconds * 1000)
        consumer = self.consumer = AIOKafkaConsumer(
            **aiokafka_options(self.settings),
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            partition_assignment_strategy=(RangePartitionAssignor,),
            fetch_max_wait_ms=batch_ms,
            **self.consumer_options(),
        )
        await consumer.start()
        try:
            consumer.subscribe(self.topics, listener=_Rebalance(self))
            while not self._finishing.is_set():
                generation = self._generation
                fetched = await consumer.getmany(timeout_ms=batch_ms, max_records=self.settings.batch_size)
                async with self._lock:
                    if fetched and generation == self._generation:
                        await self.take([event for records in fetched.values() for event in records])
                        await self._commit({tp: records[-1].offset + 1 for tp, records in fetched.items()})
                    elif fetched:
                        self._rewind(fetched)
                    await self.between_batches()
        finally:
            self.consumer = None
            await consumer.stop()

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        assert self.consumer is not None
        while True:
            try:
                await self.consumer.commit(offsets)
                self._committed.update(offsets)
                return
            except CommitFailedError:
                # The group moved on (this member was too slow to answer): whoever owns these
                # partitions now takes the batch again from the last commit.
                log.warning("group %s rebalanced before a batch was committed", self.group)
                return
            except KafkaError as error:
                log.warning("committing offsets failed (%r), retrying", error)
                await asyncio.sleep(1.0)

    def _rewind(self, fetched: dict[TopicPartition, list[Event]]) -> None:
        """Put the partitions of a batch fetched across a rebalance back to the batch's first
        offsets, to be fetched again. (No request to Kafka here: the rebalance that may be
        waiting for this batch to end would wait for it in turn.) Every earlier offset of a
        partition still assigned was committed, or its outputs accepted before a commit the
        rebalance refused."""
        assert self.consumer is not None
        assigned = self.consumer.assignment()
        for tp, records in fetched.items():
            if tp in assigned:
                self.consumer.seek(tp, records[0].offset)

    async def revoked(self, partitions: set[int]) -> None:
        async with self._lock:
            self._generation += 1
            await self.on_revoked(partitions)

    async def assigned(self, partitions: set[int]) -> None:
        async with self._lock:
            gone, new = self.partitions - partitions, partitions - self.partitions
            self.partitions = frozenset(partitions)
            await self.on_assigned(set(gone), set(new))
