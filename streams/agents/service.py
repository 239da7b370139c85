"""An agent in the worker process: a service of the worker's Faust app, beside the pass's.

It makes the agent's topics, runs its consumers until the worker stops, lets the batch in hand
finish, and closes its own Kafka and InfluxDB clients (the pass's are not shared, so neither
waits on the other).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from mode import Service

from sensors.sites import SiteRegistry
from streams.agents.api import Agent
from streams.agents.runtime import AgentRunner, AgentWorker, ensure_agent_topics, runners
from streams.kafka.publisher import Publisher
from streams.metrics import PipelineCounters
from streams.settings import Settings
from streams.sinks.influx import InfluxWriter

log = logging.getLogger(__name__)

FINISH_SECONDS = 60.0
"""How long a stopping worker waits for an agent's batch in hand."""


class AgentService(Service):
    """Runs one agent's consumers for as long as the worker runs. Should one fail beyond what it
    handles itself, the service crashes, and with it the worker, to be started again."""

    def __init__(
        self,
        settings: Settings,
        agent: Agent[Any],
        registry: SiteRegistry,
        counters: PipelineCounters,
        closing: tuple[InfluxWriter, ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.closing = closing
        """Other writers of the worker to close with its own (the metrics' when the pass is off)."""
        self.settings = settings
        self.agent = agent
        self.writer = InfluxWriter(settings, counters.sink)
        self.publisher = Publisher(settings)
        runner = AgentRunner(agent, settings, registry, counters, self.publisher, self.writer)
        self.workers = [AgentWorker(settings, consumer) for consumer in runners(agent, runner)]

    @Service.task
    async def _consume(self) -> None:
        await ensure_agent_topics(self.settings, self.agent)
        await asyncio.gather(*(worker.run() for worker in self.workers))

    async def on_stop(self) -> None:
        try:
            async with asyncio.timeout(FINISH_SECONDS):
                await asyncio.gather(*(worker.finish() for worker in self.workers))
        except TimeoutError:
            log.warning("agent %s did not finish its batch within %.0f s", self.agent.name, FINISH_SECONDS)

    async def on_shutdown(self) -> None:
        for writer in (self.writer, *self.closing):
            await writer.close()
        await self.publisher.stop()
