"""Consuming in batches, exactly once within Kafka: the loop the pass, the agents, the alert router
and the InfluxDB sink share.

A :class:`BatchConsumer` is one member of a consumer group. It fetches a batch, hands each
partition's events to its :class:`Runner`, and stores what the runner made of them together with
the partition's offsets in one Kafka transaction (:mod:`streams.runtime.transactions`). Partition
*p* of every input topic goes to the same member (a range assignment: every topic of one consumer
is keyed alike), so one partition's state, outputs and offsets belong together.

- **A rebalance** waits for the batch in hand. Before it, the runner stores what must not be lost
  if a partition moves (the pass: its detectors' checkpoints). After it, every partition given has
  a new transactional producer, which fences whoever held it before; a partition whose committed
  offsets are not the ones this worker last committed (it was new, or someone else held it in
  between, as a worker frozen past its session finds) has its state dropped and restored from its
  changelogs, read committed, before the next batch. A batch fetched across a rebalance is not
  taken: its partitions go back to their first offsets.
- **A failed restore** is tried again until ``OPENLAB_RESTORE_DEADLINE_SECONDS``; then the
  consumer raises, and the worker exits rather than run on empty state.
- **A batch the runner fails on** (a bug) changes no state: the partition's state is dropped and
  restored as it was committed, and the batch's events are dead-lettered with the error.
- **A transaction that fails** (the worker was fenced, Kafka went away) leaves nothing visible; the
  partition's state is dropped, its fetching paused, and the consumer asks the group to rebalance,
  after which the partition is taken over as above, by this worker or another.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor

from sensors.cleaning import Reason, Rejection
from sensors.measurements import REJECTED
from streams.kafka.clients import aiokafka_options
from streams.kafka.groups import stable_offsets
from streams.kafka.topics import TopicNames
from streams.metrics import PipelineCounters, consumer_lag
from streams.runtime.batch import Event, Outputs
from streams.runtime.runner import Runner
from streams.runtime.stall import STALL_SECONDS, log_stall
from streams.runtime.transactions import PartitionTransactions, TransactionFailed
from streams.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
A = TypeVar("A")


class RestoreFailed(Exception):
    """The state of partitions given to this worker could not be restored within the deadline."""


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, consumer: BatchConsumer) -> None:
        self.consumer = consumer

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self.consumer.revoked({tp.partition for tp in revoked})

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self.consumer.assigned({tp.partition for tp in assigned})


class BatchConsumer:
    """Consumes ``runner.inputs`` in the consumer group ``runner.group``, batch by batch, each
    partition's outputs and offsets in one transaction."""

    def __init__(
        self,
        settings: Settings,
        runner: Runner,
        counters: PipelineCounters,
        options: Mapping[str, Any] | None = None,
        batch_size: int | None = None,
    ) -> None:
        self.settings = settings
        self.runner = runner
        self.counters = counters
        self.options = dict(options or {})
        self.batch_size = batch_size or settings.batch_size
        """Most records fetched at once (default ``OPENLAB_BATCH_SIZE``)."""
        names = TopicNames.of(settings)
        self.transactions = PartitionTransactions(settings, runner.group, names.deadletter, names.points)
        self.consumer: AIOKafkaConsumer | None = None
        self.partitions: frozenset[int] = frozenset()
        self._lock = asyncio.Lock()
        self._generation = 0
        self._finishing = asyncio.Event()
        self._finished = asyncio.Event()
        self._committed: dict[TopicPartition, int] = {}
        self._lost: set[int] = set()
        self._failure: BaseException | None = None

    async def finish(self) -> None:
        """Stop consuming once the batch in hand is committed; return when it is."""
        self._finishing.set()
        await self._finished.wait()

    async def run(self) -> None:
        """Consume until :meth:`finish` (or cancelled); raise if a partition's state cannot be
        restored."""
        try:
            await self._consume()
        finally:
            self._finished.set()

    async def _consume(self) -> None:
        settings = self.settings
        batch_ms = int(settings.batch_seconds * 1000)
        session_ms = int(settings.kafka_session_timeout_seconds * 1000)
        consumer = self.consumer = AIOKafkaConsumer(
            **aiokafka_options(settings),
            group_id=self.runner.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            partition_assignment_strategy=(RangePartitionAssignor,),
            fetch_max_wait_ms=batch_ms,
            session_timeout_ms=session_ms,
            heartbeat_interval_ms=max(session_ms // 10, 100),
            **self.options,
        )
        await consumer.start()
        try:
            consumer.subscribe(list(self.runner.inputs), listener=_Rebalance(self))
            while not self._finishing.is_set():
                generation = self._generation
                fetched = await consumer.getmany(timeout_ms=batch_ms, max_records=self.batch_size)
                if self._failure is not None:
                    raise self._failure
                async with self._lock:
                    if generation == self._generation:
                        await self._take(fetched)
                    else:
                        self._rewind(fetched)
                    await self._store(self.runner.due())
            async with self._lock:
                await self._store(self.runner.handover(set(self.partitions) - self._lost))
        finally:
            self.consumer = None
            await self.transactions.close()
            await consumer.stop()

    async def _take(self, fetched: Mapping[TopicPartition, Sequence[Event]]) -> None:
        events = sum(len(records) for records in fetched.values())
        stalled = asyncio.get_running_loop().call_later(STALL_SECONDS, log_stall, self.runner.group, events)
        try:
            await self._take_partitions(fetched)
        finally:
            stalled.cancel()

    async def _take_partitions(self, fetched: Mapping[TopicPartition, Sequence[Event]]) -> None:
        by_partition: defaultdict[int, dict[TopicPartition, Sequence[Event]]] = defaultdict(dict)
        for tp, records in fetched.items():
            by_partition[tp.partition][tp] = self._not_committed(tp, records)
        moved: defaultdict[int, dict[TopicPartition, int]] = defaultdict(dict)
        for tp, position in self._positions().items():
            if position > self._committed.get(tp, 0):
                moved[tp.partition][tp] = position
        for tp, records in fetched.items():
            # Past the last record taken, whatever the position says: a rebalance can replace the
            # consumer's assignment (and its positions) while a batch fetched before it is taken.
            if records and records[-1].offset + 1 > self._committed.get(tp, 0):
                moved[tp.partition][tp] = max(moved[tp.partition].get(tp, 0), records[-1].offset + 1)
        taken = []
        for partition in by_partition.keys() | moved.keys():
            parts = by_partition.get(partition, {})
            if not moved[partition] and not any(parts.values()):
                continue  # all of it committed already
            if partition in self._lost or not self.transactions.holds(partition):
                self._rewind(parts)
            else:
                taken.append(self._take_partition(partition, parts, moved[partition]))
        await asyncio.gather(*taken)

    def _not_committed(self, tp: TopicPartition, records: Sequence[Event]) -> Sequence[Event]:
        """``records`` without those this worker has committed already. aiokafka was seen handing
        the first batch after a rebalance twice (in chaos runs: the same offsets, a fraction of a
        second apart, with no seek of ours between); taken again, it would be scored again."""
        committed = self._committed.get(tp, 0)
        if not records or records[0].offset >= committed:
            return records
        log.info(
            "%s: %s-%d handed again from offset %d, committed to %d: left out",
            self.runner.group,
            tp.topic,
            tp.partition,
            records[0].offset,
            committed,
        )
        return records[bisect.bisect_left([record.offset for record in records], committed) :]

    def _positions(self) -> dict[TopicPartition, int]:
        """Where the consumer stands on each partition it fetches: past the batch just fetched, and
        past the transaction markers and aborted records it skipped, which a commit of the last
        record's offset + 1 would leave behind as a lag that never ends."""
        assert self.consumer is not None
        # aiokafka's consumer.position() waits for a position being reset; its state does not.
        assignment = self.consumer._subscription.subscription.assignment
        positions = {}
        for tp in self.consumer.assignment():
            state = assignment.state_value(tp)
            if state.has_valid_position and not state.paused:
                positions[tp] = state.position
        return positions

    async def _take_partition(
        self,
        partition: int,
        parts: Mapping[TopicPartition, Sequence[Event]],
        offsets: dict[TopicPartition, int],
    ) -> None:
        """Take one partition's events and commit the partition's ``offsets`` with their outputs."""
        events = [event for records in parts.values() for event in records]
        out = Outputs()
        if events:
            try:
                out = await self.runner.take(partition, events)
            except Exception as error:
                log.exception(
                    "%s failed on a batch of %d events of partition %d",
                    self.runner.stage,
                    len(events),
                    partition,
                )
                out = await self._dead_letter(partition, events, error)
        try:
            await self.transactions.commit(partition, out, offsets)
        except TransactionFailed as failed:
            self._lose(partition, parts, failed)
            return
        self._committed.update(offsets)
        for _, rejection, stage, _ in out.rejected:
            self.counters.count(stage, REJECTED, rejection.reason.value)

    async def _dead_letter(self, partition: int, events: Sequence[Event], error: Exception) -> Outputs:
        """Put the partition's state back as it was committed, and the batch's events into dead
        letters with ``error``: a batch the runner failed on leaves no trace."""
        await self._restore({partition})
        rejection = Rejection(Reason.INTERNAL_ERROR, f"{type(error).__name__}: {error}")
        out = Outputs()
        for event in events:
            out.reject(event, rejection, self.runner.stage)
        return out

    async def _store(self, outputs: Mapping[int, Outputs]) -> None:
        """Store outputs that come with no events (checkpoints), each partition's in a transaction."""
        chosen = {p: out for p, out in outputs.items() if p not in self._lost and self.transactions.holds(p)}
        failures = await asyncio.gather(
            *(self.transactions.commit(p, out, {}) for p, out in chosen.items()), return_exceptions=True
        )
        for failure in failures:
            if isinstance(failure, TransactionFailed):
                self._lose(failure.partition, {}, failure)
            elif isinstance(failure, BaseException):
                raise failure

    def _lose(
        self, partition: int, parts: Mapping[TopicPartition, Sequence[Event]], failed: TransactionFailed
    ) -> None:
        """The partition's transaction failed: drop its state, stop fetching it, and ask the group
        to rebalance, after which whoever is given it restores its committed state."""
        log.warning(
            "%s: %s; its state is dropped until the group gives the partition again",
            self.runner.group,
            failed,
        )
        self.runner.forget({partition})
        self._lost.add(partition)
        self._rewind(parts)
        consumer = self.consumer
        if consumer is not None:
            consumer.pause(*(tp for tp in consumer.assignment() if tp.partition == partition))
            # aiokafka has no public call for it: the coordinator rejoins at its next turn.
            consumer._coordinator.request_rejoin()

    def _rewind(self, fetched: Mapping[TopicPartition, Sequence[Event]]) -> None:
        """Put the partitions of a batch not taken back to the batch's first offsets, to be fetched
        again. (No request to Kafka here: the rebalance that may be waiting for this batch to end
        would wait for it in turn.)"""
        assert self.consumer is not None
        assigned = self.consumer.assignment()
        for tp, records in fetched.items():
            if tp in assigned and records:
                self.consumer.seek(tp, records[0].offset)

    async def revoked(self, partitions: set[int]) -> None:
        async with self._lock:
            self._generation += 1
            try:
                await self._store(self.runner.handover(partitions - self._lost))
            except Exception:
                log.exception("%s: storing the state of revoked partitions failed", self.runner.group)

    async def assigned(self, partitions: set[int]) -> None:
        async with self._lock:
            try:
                await self._take_over(partitions)
            except Exception as error:
                # aiokafka would log an exception of this callback and go on: the loop raises it.
                log.exception("%s: taking over partitions %s failed", self.runner.group, sorted(partitions))
                self._failure = error

    async def _take_over(self, partitions: set[int]) -> None:
        """Fence every earlier holder of ``partitions``, put each at its committed offsets, and
        restore the state of those whose state here is not the committed one."""
        consumer = self.consumer
        assert consumer is not None
        gone = set(self.partitions) - partitions
        self.runner.forget(gone)
        await self.transactions.close(gone)
        deadline = time.monotonic() + self.settings.restore_deadline_seconds
        await _retried(deadline, self.transactions.fence, partitions)
        assignment = [tp for tp in consumer.assignment() if tp.partition in partitions]
        committed = await _retried(deadline, self.group_offsets, assignment)
        stale = {p for p in partitions if p in self._lost or p not in self.partitions}
        stale |= {tp.partition for tp, offset in committed.items() if offset != self._committed.get(tp)}
        self.runner.forget(stale)
        for tp, offset in committed.items():
            if offset is None:
                # Nothing committed: the consumer starts at the beginning by itself ("earliest").
                self._committed.pop(tp, None)
            else:
                self._committed[tp] = offset
                consumer.seek(tp, offset)
        self._lost.clear()
        self.partitions = frozenset(partitions)
        if stale:
            await self._restore(stale, deadline)

    async def group_offsets(self, assignment: list[TopicPartition]) -> dict[TopicPartition, int | None]:
        """The group's committed offsets of ``assignment``, once no transaction that commits some
        of them is still open (:func:`~streams.kafka.groups.stable_offsets`)."""
        return await stable_offsets(self.settings, self.runner.group, assignment)

    async def _restore(self, partitions: set[int], deadline: float | None = None) -> None:
        """Restore the committed state of ``partitions``, trying again until ``deadline``
        (monotonic; default ``OPENLAB_RESTORE_DEADLINE_SECONDS`` from now)."""
        if deadline is None:
            deadline = time.monotonic() + self.settings.restore_deadline_seconds
        started = time.monotonic()

        async def restore(chosen: set[int]) -> int:
            self.runner.forget(chosen)
            return await self.runner.restore(chosen)

        restored = await _retried(deadline, restore, partitions)
        seconds = time.monotonic() - started
        self.counters.observe_restore(seconds)
        log.info(
            "%s: partitions %s restored (%d entries) in %.2f s",
            self.runner.group,
            sorted(partitions),
            restored,
            seconds,
        )

    def lag(self, topic: str) -> int:
        """Events in this worker's partitions of ``topic`` not committed yet, as of the end offsets
        the consumer last heard of."""
        consumer = self.consumer
        if consumer is None:
            return 0
        held = [tp for tp in consumer.assignment() if tp.topic == topic]
        return consumer_lag({tp: consumer.highwater(tp) for tp in held}, self._committed)


async def _retried(deadline: float, attempt: Callable[[A], Awaitable[T]], partitions: A) -> T:
    """``await attempt(partitions)``, again after each failure until ``deadline`` (monotonic),
    then :class:`RestoreFailed`."""
    while True:
        try:
            return await attempt(partitions)
        except Exception as error:
            if time.monotonic() > deadline:
                raise RestoreFailed(f"partitions {partitions}: {error!r}") from error
            log.warning("partitions %s: %r; trying again", partitions, error)
            await asyncio.sleep(1.0)
