"""The Faust app of a worker: the one pass as a service, its timers and its web page.

The pass (:mod:`streams.pipeline`) consumes ``readings.raw``, ``alerts.commands`` and
``alerts.neighbours`` in batches with a consumer of its own, in the consumer group
``OPENLAB_APP_ID``: Faust's per-event delivery (a stream, an acknowledgement and a race against
rebalances per record) cost more than all of a reading's own logic, and a batch consumer pays
the same per batch. Faust runs the worker
process (signals, logging, the service's start and stop), the timer that writes the counters to
InfluxDB, and the web server of ``/metrics``; its own consumer is not started, so the worker is
one member of the group, not two.

With the pass runs the alert router (:mod:`streams.pipeline.router`), on a consumer of its own.
Beside the pass (or without it, ``OPENLAB_PIPELINE=false``), the worker runs the stream agents
``OPENLAB_AGENTS`` names (:mod:`streams.agents`), each a service with consumers of its own.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust
from faust.app.base import BootStrategy
from mode import Service

from sensors.sites import SiteRegistry
from streams.agents.plugins import load_agents
from streams.agents.runtime import AgentWorker
from streams.agents.service import AgentService
from streams.kafka.clients import SASL_MECHANISM, pipeline_login
from streams.kafka.publisher import Publisher
from streams.metrics import PipelineCounters
from streams.pipeline.one_pass import OnePass, PassWorker
from streams.pipeline.router import AlertRouter
from streams.settings import Settings
from streams.sinks.influx import InfluxWriter, Refused

log = logging.getLogger(__name__)

FINISH_SECONDS = 60.0
"""How long a stopping worker waits for the batch in hand (an InfluxDB outage can hold it)."""


class _PassOnly(BootStrategy):
    """Faust's services without its consumer, conductor and tables: the pass consumes."""

    enable_kafka_consumer = False


class WorkerApp(faust.App):
    BootStrategy = _PassOnly


class PassService(Service):
    """Runs the pass's consumer for as long as the worker runs, and stops it cleanly (the batch in
    hand finishes, the detectors are checkpointed, the clients close). Should the pass fail
    beyond what it handles itself, the service crashes, and with it the worker (exit status 1), so
    that whatever supervises the worker starts it again rather than leave it idle in the group."""

    def __init__(
        self, worker: PassWorker, router: AgentWorker, writers: tuple[InfluxWriter, ...], **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.worker = worker
        self.router = router
        self.writers = writers

    @Service.task
    async def _consume(self) -> None:
        await asyncio.gather(self.worker.run(), self.router.run())

    async def on_stop(self) -> None:
        try:
            async with asyncio.timeout(FINISH_SECONDS):
                await asyncio.gather(self.worker.finish(), self.router.finish())
        except TimeoutError:
            log.warning("the pass did not finish its batch within %.0f s", FINISH_SECONDS)

    async def on_shutdown(self) -> None:
        try:
            await self.worker.one_pass.detectors.save()
        except Exception:
            log.exception("the last checkpoint of the detectors failed")
        for writer in self.writers:
            await writer.close()
        await self.worker.one_pass.publisher.stop()


def build_app(settings: Settings, registry: SiteRegistry) -> faust.App:
    """The worker's app for one city and one set of settings."""
    datadir = settings.run_dir / "faust" / settings.app_id
    datadir.mkdir(parents=True, exist_ok=True)
    login = pipeline_login(settings)
    app = WorkerApp(
        settings.app_id,
        broker=f"kafka://{settings.bootstrap_servers}",
        broker_credentials=None
        if login is None
        else faust.SASLCredentials(username=login.user, password=login.password, mechanism=SASL_MECHANISM),
        store="memory://",
        datadir=str(datadir),
        web_enabled=settings.worker_web_port > 0,
        web_port=max(settings.worker_web_port, 1),
        web_host="127.0.0.1",
    )
    counters = PipelineCounters()
    writer = InfluxWriter(settings, counters.sink)
    metrics_writer = InfluxWriter(settings)
    publisher = Publisher(settings)
    worker = PassWorker(settings, OnePass(settings, registry, counters, publisher, writer))
    router = AgentWorker(settings, AlertRouter(settings, publisher, writer, counters))
    # Faust starts a service instance as it does a class (faust.App._prepare_subservice).
    # The metrics' writer is closed by the pass, or else by the first agent.
    closing: tuple[InfluxWriter, ...] = (metrics_writer,)
    if settings.pipeline:
        app.service(PassService(worker, router, (writer, *closing)))  # type: ignore[arg-type]
        closing = ()
    for agent in load_agents(settings.agents):
        app.service(AgentService(settings, agent, registry, counters, closing))  # type: ignore[arg-type]
        closing = ()

    def take_stock() -> None:
        counters.lag = worker.lag()

    @app.timer(interval=settings.metrics_seconds)  # type: ignore[untyped-decorator]
    async def report() -> None:
        take_stock()
        now = time.time_ns()
        try:
            await metrics_writer.write([*counters.interval_lines(now), counters.standing_line(now)])
        except Refused:
            log.exception("InfluxDB refused the pipeline counters")

    if settings.worker_web_port > 0:

        @app.page("/metrics")
        async def metrics(web: Any, request: Any) -> Any:
            take_stock()
            # Prometheus's text format (aiohttp sets the charset itself).
            return web.bytes(counters.exposition(), content_type="text/plain")

    return app
