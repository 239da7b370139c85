"""What a batch consumer's batches become: a :class:`Runner` (the pass, the alert router, an agent,
the sink), apart from the consumer that fetches and commits them (:mod:`streams.runtime.consumer`),
so that each is tested without Kafka."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from streams.runtime.batch import Event, Outputs


class Runner(Protocol):
    """What a consumer's batches become, and the state it keeps by partition."""

    group: str
    """The consumer group (and the prefix of its transactional ids)."""
    inputs: tuple[str, ...]
    stage: str
    """The stage of the dead letters of a batch the runner failed on."""

    async def take(self, partition: int, events: Sequence[Event]) -> Outputs:
        """The outputs of one partition's events (it may change the partition's state)."""
        ...

    def due(self) -> dict[int, Outputs]:
        """Between batches: what to store now, by partition (the pass: checkpoints due)."""
        ...

    def handover(self, partitions: set[int]) -> dict[int, Outputs]:
        """Before a rebalance or a stop: what to store before ``partitions`` may move."""
        ...

    def forget(self, partitions: set[int]) -> None:
        """Drop the state of ``partitions``."""
        ...

    async def restore(self, partitions: set[int]) -> int:
        """Load the committed state of ``partitions``; return how many entries."""
        ...


class StatelessRunner:
    """What a runner that keeps no state does between batches, at a rebalance and at a restore:
    nothing."""

    def due(self) -> dict[int, Outputs]:
        return {}

    def handover(self, partitions: set[int]) -> dict[int, Outputs]:
        return {}

    def forget(self, partitions: set[int]) -> None:
        """Nothing is kept."""

    async def restore(self, partitions: set[int]) -> int:
        return 0
