"""The batch consumer's decisions without Kafka: what each partition's transaction holds, what a
failed transaction, a failed batch and a rebalance do to the partitions' state. Its consumer and
transactions are stand-ins that note what they were asked; against the real broker:
test_faults, test_zombie, test_chaos."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from aiokafka import TopicPartition

from sensors.cleaning import Reason
from streams.metrics import PipelineCounters
from streams.runtime.batch import Event, Fetched, Outputs
from streams.runtime.consumer import BatchConsumer, RestoreFailed
from streams.runtime.runner import StatelessRunner
from streams.runtime.transactions import TransactionFailed
from streams.settings import Settings

SETTINGS = Settings(topic_prefix="unit.", partitions=4, restore_deadline_seconds=0.01)
RAW, COMMANDS = "unit.readings.raw", "unit.alerts.commands"


@dataclass
class Position:
    position: int
    has_valid_position: bool = True
    paused: bool = False


class Coordinator:
    def __init__(self) -> None:
        self.rejoins = 0

    def request_rejoin(self) -> None:
        self.rejoins += 1


class Consumer:
    """An aiokafka consumer's surface the batch consumer uses, with the group's committed offsets."""

    def __init__(
        self, positions: dict[TopicPartition, int], committed: Mapping[TopicPartition, int | None]
    ) -> None:
        self.states = {tp: Position(offset) for tp, offset in positions.items()}
        self.group_committed = committed
        self.seeks: dict[TopicPartition, int] = {}
        self._coordinator = Coordinator()
        # Where aiokafka keeps each partition's position: _subscription.subscription.assignment.
        self._subscription = SimpleNamespace(subscription=SimpleNamespace(assignment=self))

    def assignment(self) -> set[TopicPartition]:
        return set(self.states)

    def state_value(self, tp: TopicPartition) -> Position:
        return self.states[tp]

    def seek(self, tp: TopicPartition, offset: int) -> None:
        self.seeks[tp] = offset

    def pause(self, *tps: TopicPartition) -> None:
        for tp in tps:
            self.states[tp].paused = True

    async def committed(self, tp: TopicPartition) -> int | None:
        return self.group_committed.get(tp)


class Transactions:
    """Notes each partition's commit; fails those of ``failing``."""

    def __init__(self, held: set[int]) -> None:
        self.held = set(held)
        self.failing: set[int] = set()
        self.commits: list[tuple[int, Outputs, dict[TopicPartition, int]]] = []
        self.fenced: list[set[int]] = []
        self.closed: list[set[int]] = []

    def holds(self, partition: int) -> bool:
        return partition in self.held

    async def fence(self, partitions: set[int]) -> None:
        self.fenced.append(set(partitions))
        self.held |= set(partitions)

    async def close(self, partitions: set[int] | None = None) -> None:
        self.closed.append(set(partitions or ()))
        self.held -= set(partitions or ())

    async def commit(self, partition: int, out: Outputs, offsets: dict[TopicPartition, int]) -> None:
        if partition in self.failing:
            self.held.discard(partition)
            raise TransactionFailed(partition, RuntimeError("fenced"))
        self.commits.append((partition, out, dict(offsets)))


@dataclass
class Runner(StatelessRunner):
    """Keeps, per partition, the offsets of the events it took; fails on a value of ``b"bug"``."""

    group: str = "unit-group"
    inputs: tuple[str, ...] = (RAW, COMMANDS)
    stage: str = "unit"
    state: dict[int, list[int]] = field(default_factory=dict)
    committed_state: dict[int, list[int]] = field(default_factory=dict)
    restored: list[set[int]] = field(default_factory=list)
    restore_fails: bool = False

    async def take(self, partition: int, events: Sequence[Event]) -> Outputs:
        self.state.setdefault(partition, []).extend(event.offset for event in events)
        if any(event.value == b"bug" for event in events):
            raise RuntimeError("a bug")
        out = Outputs()
        out.records["unit.out"] = [(event.key, event.value or b"") for event in events]
        return out

    def forget(self, partitions: set[int]) -> None:
        for partition in partitions:
            self.state.pop(partition, None)

    async def restore(self, partitions: set[int]) -> int:
        self.restored.append(set(partitions))
        if self.restore_fails:
            raise OSError("Kafka is away")
        for partition in partitions:
            self.state[partition] = list(self.committed_state.get(partition, []))
        return len(partitions)


def tp(partition: int, topic: str = RAW) -> TopicPartition:
    return TopicPartition(topic, partition)


def records(partition: int, offsets: range, value: bytes = b"{}") -> list[Fetched]:
    return [Fetched(RAW, partition, offset, b"S", value) for offset in offsets]


def batch_consumer(
    positions: dict[TopicPartition, int], committed: Mapping[TopicPartition, int | None], held: set[int]
) -> tuple[BatchConsumer, Consumer, Transactions, Runner]:
    runner = Runner()
    consumer = Consumer(positions, committed)
    transactions = Transactions(held)
    worker = BatchConsumer(SETTINGS, runner, PipelineCounters(worker="w"))
    worker.consumer = consumer
    worker.transactions = transactions  # type: ignore[assignment]
    worker.partitions = frozenset(held)

    async def group_offsets(assignment: list[TopicPartition]) -> dict[TopicPartition, int | None]:
        return {tp: await consumer.committed(tp) for tp in assignment}

    worker.group_offsets = group_offsets  # type: ignore[method-assign]
    return worker, consumer, transactions, runner


async def test_each_partition_commits_its_outputs_with_its_positions_past_the_markers() -> None:
    # Partition 0 fetched 10-12; its position (13) and partition 1's (5, a marker past the
    # committed 4, no record) are committed, each partition in its own transaction.
    worker, _, transactions, _ = batch_consumer({tp(0): 13, tp(1): 5}, {}, {0, 1})
    worker._committed = {tp(0): 10, tp(1): 4}
    await worker._take({tp(0): records(0, range(10, 13))})
    by_partition = {partition: (out, offsets) for partition, out, offsets in transactions.commits}
    assert by_partition[0][1] == {tp(0): 13}
    assert [key for key, _ in by_partition[0][0].records["unit.out"]] == [b"S"] * 3
    assert by_partition[1][1] == {tp(1): 5} and not by_partition[1][0].records
    assert worker._committed == {tp(0): 13, tp(1): 5}


async def test_a_batch_commits_past_its_last_record_when_the_consumer_knows_no_position() -> None:
    # A rebalance replaced the assignment while the batch was in hand: the new one has no
    # position yet. Committed without its offsets, the batch would be taken again.
    worker, consumer, transactions, _ = batch_consumer({tp(0): 0}, {}, {0})
    consumer.states[tp(0)].has_valid_position = False
    await worker._take({tp(0): records(0, range(30, 33))})
    ((partition, _, offsets),) = transactions.commits
    assert partition == 0 and offsets == {tp(0): 33}


async def test_records_handed_again_below_what_the_worker_committed_are_left_out() -> None:
    worker, _, transactions, runner = batch_consumer({tp(0): 40}, {}, {0})
    worker._committed = {tp(0): 38}
    await worker._take({tp(0): records(0, range(35, 40))})
    assert runner.state[0] == [38, 39]
    ((_, _, offsets),) = transactions.commits
    assert offsets == {tp(0): 40}
    # All of them committed already: nothing taken, and the committed offset never goes back.
    await worker._take({tp(0): records(0, range(30, 35))})
    assert runner.state[0] == [38, 39] and len(transactions.commits) == 1


async def test_a_failed_transaction_drops_the_partitions_state_pauses_it_and_asks_for_a_rebalance() -> None:
    worker, consumer, transactions, runner = batch_consumer({tp(0): 3, tp(1): 3}, {}, {0, 1})
    runner.state = {0: [0], 1: [0]}
    transactions.failing = {1}
    await worker._take({tp(0): records(0, range(1, 3)), tp(1): records(1, range(1, 3))})
    assert 1 not in runner.state and runner.state[0] == [0, 1, 2]
    assert consumer.states[tp(1)].paused and consumer.seeks[tp(1)] == 1
    assert consumer._coordinator.rejoins == 1
    assert tp(1) not in worker._committed and worker._committed[tp(0)] == 3
    # Until the group gives it again, its events are put back, never taken.
    await worker._take({tp(1): records(1, range(1, 3))})
    assert 1 not in runner.state and [p for p, _, _ in transactions.commits] == [0]


async def test_a_batch_the_runner_fails_on_leaves_the_committed_state_and_dead_letters_its_events() -> None:
    worker, _, transactions, runner = batch_consumer({tp(2): 2}, {}, {2})
    runner.state = {2: [7]}
    runner.committed_state = {2: [7]}
    await worker._take({tp(2): [*records(2, range(0, 1)), *records(2, range(1, 2), b"bug")]})
    assert runner.state == {2: [7]}, "the partition's state as it was committed"
    ((partition, out, offsets),) = transactions.commits
    assert partition == 2 and offsets == {tp(2): 2} and not out.records
    assert [(event.offset, rejection.reason, stage) for event, rejection, stage, _ in out.rejected] == [
        (0, Reason.INTERNAL_ERROR, "unit"),
        (1, Reason.INTERNAL_ERROR, "unit"),
    ]


async def test_a_rebalance_restores_only_partitions_someone_else_committed_or_that_are_new() -> None:
    # Held 0, 1, 2. Given 0 (committed as this worker left it), 1 (another worker committed past
    # it while this one was frozen) and 3 (new); 2 is gone.
    positions = {tp(0): 10, tp(1): 20, tp(3): 0}
    committed = {tp(0): 10, tp(1): 25, tp(3): 7}
    worker, consumer, transactions, runner = batch_consumer(positions, committed, {0, 1, 2})
    worker._committed = {tp(0): 10, tp(1): 20, tp(2): 5}
    runner.state = {0: [9], 1: [19], 2: [4]}
    runner.committed_state = {1: [24], 3: [6]}
    await worker._take_over({0, 1, 3})
    assert transactions.fenced == [{0, 1, 3}], "every partition given is fenced, the kept one too"
    assert {2} in transactions.closed
    assert runner.restored == [{1, 3}]
    assert runner.state == {0: [9], 1: [24], 3: [6]}
    assert consumer.seeks == {tp(0): 10, tp(1): 25, tp(3): 7}
    assert worker.partitions == {0, 1, 3}


async def test_a_partition_lost_to_a_failed_transaction_is_restored_when_given_again() -> None:
    worker, _, transactions, runner = batch_consumer({tp(0): 4}, {tp(0): 4}, {0})
    worker._committed = {tp(0): 4}
    runner.committed_state = {0: [3]}
    transactions.failing = {0}
    await worker._take({tp(0): records(0, range(4, 5))})
    transactions.failing = set()
    await worker._take_over({0})
    assert runner.restored == [{0}] and runner.state == {0: [3]} and not worker._lost


async def test_a_restore_that_keeps_failing_ends_in_an_error_not_in_empty_state() -> None:
    worker, _, _, runner = batch_consumer({tp(0): 0}, {tp(0): 5}, set())
    runner.restore_fails = True
    with pytest.raises(RestoreFailed, match="Kafka is away"):
        await worker._take_over({0})
    assert 0 not in runner.state
