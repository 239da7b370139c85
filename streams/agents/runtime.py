"""Running an agent: its batches through its handler (:class:`AgentRunner`), and its own consumer
(:class:`AgentWorker`), beside the pass and never in its way.

An agent consumes its inputs in the consumer group ``<app_id>-agent-<name>``, batch by batch, with
the pass's discipline (:mod:`streams.runtime.consumer`): a batch's events, points, alarm events,
dead letters, the changelog of the state it changed and its offsets commit in one transaction.
A handler that raises has its batch dead-lettered (stage: the agent's name, reason
``internal_error``) and nothing else of it sent; the agent goes on with the next batch, and the
pass, on its own consumer, never notices.

An agent keyed by site (``keyed_by="site"``) runs as two consumers: the first puts the readings
of the agent's kinds on ``agents.<name>.by-site`` keyed by site, the second takes them there, so
that every reading of one site reaches the one worker that holds the site's state.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
from pydantic import BaseModel

from models.scoring import ScoredReading
from sensors.cleaning import Reason, Rejection, parse
from sensors.site import Site
from sensors.sites import SiteRegistry
from streams.agents.api import SCORED, Agent, AgentEvent, Batch, SiteReading, StateView
from streams.agents.state import StateTable
from streams.kafka.topics import TopicNames, ensure_topics
from streams.metrics import PipelineCounters
from streams.pipeline.alarm import publish_alarm
from streams.runtime.batch import Event, Outputs, Points
from streams.runtime.runner import Runner, StatelessRunner
from streams.settings import Settings

log = logging.getLogger(__name__)

TAKEN, EMITTED, POINTS, FAILED = "taken", "emitted", "points", "failed"
"""The outcomes counted under an agent's name on ``/metrics``: events taken, events emitted,
points made, batches its handler failed on."""


class AgentRunner:
    """An agent's handler over its batches, with its state, in one worker."""

    def __init__(
        self,
        agent: Agent[Any],
        settings: Settings,
        registry: SiteRegistry,
        counters: PipelineCounters,
    ) -> None:
        self.agent = agent
        self.stage = agent.name
        self.settings = settings
        self.registry = registry
        self.counters = counters
        self.names = TopicNames.of(settings)
        self.group = agent.group(settings.app_id)
        by_site = settings.topic(agent.by_site_topic)
        self.inputs = (
            (by_site,) if agent.keyed_by == "site" else tuple(settings.topic(t) for t in agent.inputs)
        )
        self.reading_topics = frozenset({settings.topic(SCORED), by_site})
        self.changelog = settings.topic(agent.state_topic)
        self.table: StateTable[Any] = StateTable(agent.state, settings.alarm_rules(), agent.name)

    async def take(self, partition: int, events: Sequence[Event]) -> Outputs:
        return self.steps(events)

    def steps(self, events: Sequence[Event]) -> Outputs:
        """The pure part: the batch through the handler, into outputs (or into dead letters)."""
        out = Outputs()
        stage = self.agent.name
        batch: Batch[Any] = Batch([], [], StateView(self.table), self.agent)
        partition_of: dict[str, int] = {}
        for event in events:
            taken = self._take(event, batch, out)
            for key in taken:
                partition_of[key] = event.partition
        self.counters.count(stage, TAKEN, n=len(events))
        batch.readings.sort(key=lambda item: item.reading.observed_at)
        partition = _Partitions(partition_of)
        try:
            self.agent.handle(batch)
            # Checked before anything changes: a batch that fails leaves no trace in the state.
            written = {key: (value, partition(key)) for key, value in batch.state.written.items()}
            judged = [
                (verdict, self._site_of(verdict), partition.of_verdict(verdict)) for verdict in batch.verdicts
            ]
        except Exception as error:
            log.exception("agent %s failed on a batch of %d events", stage, len(events))
            self.counters.count(stage, FAILED)
            rejection = Rejection(Reason.INTERNAL_ERROR, f"{type(error).__name__}: {error}")
            out = Outputs()
            for event in events:
                out.reject(event, rejection, stage)
            return out
        self.table.apply(written)
        for verdict, site, at in judged:
            state = self.table.alarms_of(verdict.sensor_id, at)
            batch.points.extend(
                publish_alarm(alarm, out, self.names, self.counters, stage)
                for alarm in state.observe(verdict, site)
            )
        for emitted in batch.emitted:
            topic = self.settings.topic(self.agent.output_topic(emitted.output))
            out.records[topic].append((emitted.key.encode(), emitted.value))
        if batch.points and events:
            out.points.append(Points(events[-1], stage, b"", batch.points))
        self.counters.count(stage, EMITTED, n=len(batch.emitted))
        self.counters.count(stage, POINTS, n=len(batch.points))
        for records in self.table.changelog().values():
            out.tables[self.changelog].extend(records)
        return out

    def _take(self, event: Event, batch: Batch[Any], out: Outputs) -> tuple[str, ...]:
        """Hand ``event`` to ``batch``; return the keys of state it may touch."""
        if event.topic in self.reading_topics:
            reading = parse(ScoredReading, event.value)
            if isinstance(reading, Rejection):
                out.reject(event, reading, self.agent.name)
                return ()
            site = self.registry.site(reading.site_id)
            kinds = self.agent.kinds
            if site is None or (kinds is not None and reading.kind not in kinds):
                return ()
            batch.readings.append(SiteReading(reading, site))
            return reading.sensor_id, reading.site_id
        key = None if event.key is None else event.key.decode("utf-8", "replace")
        try:
            value = orjson.loads(event.value or b"")
        except orjson.JSONDecodeError as error:
            out.reject(event, Rejection(Reason.NOT_JSON, str(error)), self.agent.name)
            return ()
        batch.events.append(AgentEvent(event.topic, key, value))
        return () if key is None else (key,)

    def _site_of(self, verdict: ScoredReading) -> Site:
        site = self.registry.site(verdict.site_id)
        if site is None:
            raise ValueError(f"a verdict on {verdict.sensor_id} names no site of the city: {verdict.site_id}")
        return site

    def due(self) -> dict[int, Outputs]:
        return {}

    def handover(self, partitions: set[int]) -> dict[int, Outputs]:
        return {}

    def forget(self, partitions: set[int]) -> None:
        self.table.forget(partitions)

    async def restore(self, partitions: set[int]) -> int:
        return await self.table.restore(self.settings, self.changelog, partitions)


class _Partitions:
    """The partition of the events of a batch that bore a key (a sensor's or site's id, an
    event's key): where the changelog record of what is kept under that key goes."""

    def __init__(self, partition_of: dict[str, int]) -> None:
        self.partition_of = partition_of

    def __call__(self, key: str) -> int:
        found = self.partition_of.get(key)
        if found is None:
            raise ValueError(
                f"{key!r} is no sensor, site or event key of the batch: state must be kept by one"
            )
        return found

    def of_verdict(self, verdict: ScoredReading) -> int:
        """A verdict's sensor's, or else its site's (a site's verdict on one of its sensors)."""
        found = self.partition_of.get(verdict.sensor_id)
        return self(verdict.site_id) if found is None else found


class BySite(StatelessRunner):
    """The first consumer of an agent keyed by site: the readings of its kinds, keyed by site."""

    def __init__(self, runner: AgentRunner) -> None:
        agent, settings = runner.agent, runner.settings
        self.runner = runner
        self.stage = agent.name
        self.group = f"{runner.group}-by-site"
        self.inputs = tuple(settings.topic(t) for t in agent.inputs)
        self.topic = settings.topic(agent.by_site_topic)

    async def take(self, partition: int, events: Sequence[Event]) -> Outputs:
        return self.steps(events)

    def steps(self, events: Sequence[Event]) -> Outputs:
        out = Outputs()
        kinds = self.runner.agent.kinds
        records = out.records[self.topic]
        for event in events:
            reading = parse(_Located, event.value)
            if isinstance(reading, Rejection):
                out.reject(event, reading, self.runner.agent.name)
            elif kinds is None or reading.kind in kinds:
                records.append((reading.site_id.encode(), event.value or b""))
        return out


class _Located(BaseModel):
    """Where a reading belongs: all the re-keying reads of it."""

    site_id: str
    kind: str


def runners(agent: Agent[Any], runner: AgentRunner) -> list[Runner]:
    """The consumers of ``agent``: one, or two for an agent keyed by site."""
    return [BySite(runner), runner] if agent.keyed_by == "site" else [runner]


async def ensure_agent_topics(settings: Settings, agent: Agent[Any]) -> list[str]:
    """Create the pipeline's topics and ``agent``'s (outputs, changelog, by-site) that do not
    exist yet, with the pipeline's partition count; return the agent's created."""
    names = [settings.topic(agent.output_topic(output)) for output in agent.outputs]
    names += [settings.topic(agent.by_site_topic)] if agent.keyed_by == "site" else []
    changelog = settings.topic(agent.state_topic)
    created = await ensure_topics(settings, more=names, compacted=[changelog])
    return [name for name in created if name in {*names, changelog}]
