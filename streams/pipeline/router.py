"""The alert router: each alarm event of ``alerts`` onto its owner's topic ``alerts.owner.<owner_id>``.

The pass and the agents publish an alarm event on ``alerts`` only, and every worker runs this
router in the consumer group ``<app_id>-alert-router`` beside them. An owner's topic therefore
holds the events of ``alerts`` for their sites and nothing else. Published by the pass itself,
the two could differ after a worker's crash: a batch taken again is scored by detectors restored
from an older checkpoint, and its alarm events could differ from those the crashed attempt had
already put on an owner's topic (README, "Guarantees"). The price is one hop for every alarm
event, a few milliseconds against a reading's second.

An event is forwarded exactly once: the copies and the offsets of a batch commit in one transaction
(:mod:`streams.runtime.transactions`). One that names no valid owner (nothing the pipeline writes)
is dead-lettered.

>>> from streams.runtime.batch import Fetched
>>> router = AlertRouter(Settings(topic_prefix="x."))
>>> out = router.steps([Fetched("x.alerts", 0, 7, b"GJ-00001", b'{"owner_id": "owner-007"}'),
...                     Fetched("x.alerts", 0, 8, b"GJ-00002", b'{"owner_id": "../etc"}')])
>>> dict(out.records)
{'x.alerts.owner.owner-007': [(b'GJ-00001', b'{"owner_id": "owner-007"}')]}
>>> [(rejection.reason.value, stage) for _, rejection, stage, _ in out.rejected]
[('schema', 'alert_router')]
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from pydantic import BaseModel, Field

from sensors.cleaning import Reason, Rejection, parse
from streams.kafka.topics import OWNER_ID_PATTERN, TopicNames, topics_of
from streams.runtime.batch import Event, Outputs
from streams.runtime.runner import StatelessRunner
from streams.settings import Settings

ROUTER_STAGE = "alert_router"

ASK_AGAIN_SECONDS = 10.0
"""How often the router asks the broker again for owners' topics it did not find."""


class _Owned(BaseModel):
    """What the router reads of an alarm event."""

    owner_id: str = Field(pattern=OWNER_ID_PATTERN)


class AlertRouter(StatelessRunner):
    """Copies each alarm event of a batch of ``alerts`` to its owner's topic (a consumer's runner:
    :class:`streams.runtime.consumer.BatchConsumer` consumes and commits)."""

    stage = ROUTER_STAGE

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.names = TopicNames.of(settings)
        self.group = f"{settings.app_id}-alert-router"
        self.inputs: tuple[str, ...] = (self.names.alerts,)
        self.owners_topics: set[str] | None = None
        """The owners' topics the broker has, as last asked (``None``: not yet)."""
        self._asked = 0.0

    async def take(self, partition: int, events: Sequence[Event]) -> Outputs:
        out = self.steps(events)
        named = set(out.records)
        if self.owners_topics is None or (
            not named <= self.owners_topics and time.monotonic() - self._asked > ASK_AGAIN_SECONDS
        ):
            self.owners_topics = set(await topics_of(self.settings, self.names.owner("")))
            self._asked = time.monotonic()
        return self.without_topic(out, events, self.owners_topics)

    def steps(self, events: Sequence[Event]) -> Outputs:
        out = Outputs()
        for event in events:
            owned = parse(_Owned, event.value)
            if isinstance(owned, Rejection):
                out.reject(event, owned, ROUTER_STAGE)
            else:
                out.records[self.names.owner(owned.owner_id)].append((event.key, event.value or b""))
        return out

    def without_topic(self, out: Outputs, events: Sequence[Event], existing: set[str]) -> Outputs:
        """``out`` with the events routed to an owner's topic the broker does not have dead-lettered
        instead (topics are made by ``owners grant`` and ``sites publish``, never on first send: a
        send to a missing one would wait for it)."""
        missing = set(out.records) - existing
        if not missing:
            return out
        for topic in missing:
            del out.records[topic]
        prefix = self.names.owner("")
        for event in events:
            owned = parse(_Owned, event.value)
            if not isinstance(owned, Rejection) and self.names.owner(owned.owner_id) in missing:
                detail = (
                    f"owner {owned.owner_id} has no alarm topic ({prefix}{owned.owner_id}): grant the owner"
                )
                out.reject(event, Rejection(Reason.SCHEMA, detail), ROUTER_STAGE)
        return out
