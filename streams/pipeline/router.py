"""The alert router: each alarm event of ``alerts`` onto its owner's topic ``alerts.owner.<owner_id>``.

The pass and the agents publish an alarm event on ``alerts`` only, and every worker runs this
router in the consumer group ``<app_id>-alert-router`` beside them. An owner's topic therefore
holds the events of ``alerts`` for their sites and nothing else. Published by the pass itself,
the two could differ after a worker's crash: a batch taken again is scored by detectors restored
from an older checkpoint, and its alarm events could differ from those the crashed attempt had
already put on an owner's topic (README, "Guarantees"). The price is one hop for every alarm
event, a few milliseconds against a reading's second.

An event is forwarded at least once: its offset commits only after Kafka acknowledged the copy.
One that names no valid owner (nothing the pipeline writes) is dead-lettered.

>>> from streams.pipeline.batch import Fetched
>>> router = AlertRouter.__new__(AlertRouter)
>>> router.names = TopicNames("x.raw", "", "", "", "", "", "", "", "", "x.alerts", "")
>>> out = router.steps([Fetched("x.alerts", 0, 7, b"GJ-00001", b'{"owner_id": "owner-007"}'),
...                     Fetched("x.alerts", 0, 8, b"GJ-00002", b'{"owner_id": "../etc"}')])
>>> dict(out.records)
{'x.alerts.owner.owner-007': [(b'GJ-00001', b'{"owner_id": "owner-007"}')]}
>>> [(rejection.reason.value, stage) for _, rejection, stage, _ in out.rejected]
[('schema', 'alert_router')]
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, Field

from sensors.cleaning import Rejection, parse
from streams.kafka.publisher import Publisher
from streams.kafka.topics import OWNER_ID_PATTERN, TopicNames
from streams.metrics import PipelineCounters
from streams.pipeline.batch import Event, Outputs
from streams.pipeline.sink import PointWriter, send_outputs
from streams.settings import Settings

ROUTER_STAGE = "alert_router"


class _Owned(BaseModel):
    """What the router reads of an alarm event."""

    owner_id: str = Field(pattern=OWNER_ID_PATTERN)


class AlertRouter:
    """Copies each alarm event of a batch of ``alerts`` to its owner's topic (a consumer's runner:
    :class:`streams.agents.runtime.AgentWorker` consumes and commits)."""

    def __init__(
        self, settings: Settings, publisher: Publisher, writer: PointWriter, counters: PipelineCounters
    ) -> None:
        self.names = TopicNames.of(settings)
        self.publisher = publisher
        self.writer = writer
        self.counters = counters
        self.group = f"{settings.app_id}-alert-router"
        self.inputs: tuple[str, ...] = (self.names.alerts,)

    def steps(self, events: Sequence[Event]) -> Outputs:
        out = Outputs()
        for event in events:
            owned = parse(_Owned, event.value)
            if isinstance(owned, Rejection):
                out.reject(event, owned, ROUTER_STAGE)
            else:
                out.records[self.names.owner(owned.owner_id)].append((event.key, event.value or b""))
        return out

    async def send(self, out: Outputs) -> None:
        await send_outputs(
            self.publisher, self.writer, self.counters, out, self.names.deadletter, changelog=None
        )

    def forget(self, partitions: set[int]) -> None:
        """It keeps no state."""

    async def restore(self, partitions: set[int]) -> int:
        return 0
