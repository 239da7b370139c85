"""The Faust app of a worker: the one pass as a service, its timers and its web page.

The pass (:mod:`streams.pipeline`) consumes ``readings.raw``, ``alerts.commands`` and
``alerts.neighbours`` in batches with a consumer of its own, in the consumer group
``OPENLAB_APP_ID``: Faust's per-event delivery (a stream, an acknowledgement and a race against
rebalances per record) cost more than all of a reading's own logic, and a batch consumer pays
the same per batch. Faust runs the worker process (signals, logging, the service's start and
stop), the timer that writes the counters to InfluxDB, and the web server of ``/metrics``; its
own consumer is not started, so the worker is one member of the group, not two.

Beside the pass run, each on a batch consumer of its own (:mod:`streams.runtime`): the alert
router (:mod:`streams.pipeline.router`), the stream agents ``OPENLAB_AGENTS`` names
(:mod:`streams.agents`; ``OPENLAB_PIPELINE=false``: those alone), and the sink that writes the
points of committed batches to InfluxDB (:mod:`streams.sinks.points`).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
from faust.app.base import BootStrategy

from sensors.sites import SiteRegistry
from streams.agents.plugins import load_agents
from streams.agents.runtime import AgentRunner, ensure_agent_topics, runners
from streams.kafka.clients import SASL_MECHANISM, pipeline_login
from streams.kafka.topics import TopicNames, ensure_city_topics
from streams.metrics import PipelineCounters
from streams.pipeline.one_pass import OnePass, pass_consumer
from streams.pipeline.router import AlertRouter
from streams.runtime.consumer import BatchConsumer
from streams.runtime.service import ConsumersService
from streams.settings import Settings
from streams.sinks.influx import InfluxWriter, Refused
from streams.sinks.points import PointSink

log = logging.getLogger(__name__)

SINK_RECORDS_PER_BATCH = 16
"""Most ``points`` records the sink writes at once: up to 3,200 events' points
(:data:`~streams.runtime.transactions.POINTS_PER_RECORD` each), about what a batch of the pass
makes. With the pass's 2,000 records, a sink that fell a little behind took hundreds of
thousands of points into one write, and a reading waited seconds for it (``make run``: p99
4,100 ms)."""

SINK_POLL_SECONDS = 3600.0
"""Longest the sink may hold a batch and stay in its group: the length of an InfluxDB outage it
waits out (the others' sinks would only wait for the same InfluxDB)."""


class _PassOnly(BootStrategy):
    """Faust's services without its consumer, conductor and tables: the pass consumes."""

    enable_kafka_consumer = False


class WorkerApp(faust.App):
    BootStrategy = _PassOnly


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
    agents = load_agents(settings.agents)
    one_pass = pass_consumer(settings, OnePass(settings, registry, counters), counters)
    consumers = (
        [one_pass, BatchConsumer(settings, AlertRouter(settings), counters)] if settings.pipeline else []
    )
    for agent in agents:
        runner = AgentRunner(agent, settings, registry, counters)
        consumers += [BatchConsumer(settings, consumer, counters) for consumer in runners(agent, runner)]
    consumers.append(
        BatchConsumer(
            settings,
            PointSink(settings, writer, counters),
            counters,
            {"max_poll_interval_ms": int(SINK_POLL_SECONDS * 1000)},
            batch_size=SINK_RECORDS_PER_BATCH,
        )
    )

    async def prepare() -> None:
        await ensure_city_topics(settings, registry)
        for agent in agents:
            await ensure_agent_topics(settings, agent)

    # Faust starts a service instance as it does a class (faust.App._prepare_subservice).
    app.service(ConsumersService(consumers, prepare, (writer, metrics_writer)))  # type: ignore[arg-type]

    def take_stock() -> None:
        counters.lag = one_pass.lag(TopicNames.of(settings).raw)
        counters.active_partitions = len(one_pass.partitions)

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
