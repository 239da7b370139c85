"""The main job: the whole city through the pipeline on the local stack, then a summary."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiokafka import TopicPartition
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.live import Live
from rich.table import Table

from models.alarms import Alarm
from models.evaluation.episodes import (
    EpisodeTable,
    Watch,
    judge_episodes,
    raised_alarms,
    table_rows,
    watched_after_warmup,
)
from sensors import measurements
from sensors.cleaning import DeadLetter
from sensors.health import HealthEvent, Problem
from sensors.labels import Label
from sensors.simulation.city import CitySimulator
from streams.city import load_city
from streams.ingest.feed import FeedStats, feed_city, plan_feed
from streams.kafka.groups import consumer_lag, group_state
from streams.kafka.topics import (
    TopicNames,
    count_records,
    end_offsets,
    ensure_city_topics,
    read_values,
    record_counts,
)
from streams.settings import Settings
from streams.sinks.influx import count_points, influxql
from streams.worker import start_worker, stop_worker
from streams.worker_metrics import latency_quantiles, scrape

log = logging.getLogger(__name__)


@dataclass
class Summary:
    """What one run did, counted where it landed: Kafka topics and InfluxDB."""

    sites: int = 0
    sensors: int = 0
    produced: int = 0
    malformed_sent: int = 0
    cleaned: int = 0
    dead_lettered: int = 0
    dead_letter_reasons: Counter[str] = field(default_factory=Counter)
    health_episodes: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    event_hours: float = 0.0
    scored: int = 0
    anomalous: int = 0
    in_influx: int = 0
    feed_seconds: float = 0.0
    total_seconds: float = 0.0
    drained: bool = False
    latency: list[float] | None = None
    """p50 and p99 (seconds) from a reading's production into Kafka to its point written, from
    the workers' histograms (``None``: not measured)."""
    episodes: EpisodeTable | None = None
    """The injected episodes (the ``labels`` topic) joined with the alarms raised (``alerts``)."""

    @property
    def events_per_second(self) -> float:
        """Readings taken all the way into InfluxDB, per second of the whole run."""
        return self.in_influx / self.total_seconds if self.total_seconds else 0.0

    def table(self) -> Table:
        table = Table(title="openlab run", show_header=False)
        table.add_row("sites / sensors", f"{self.sites:,} / {self.sensors:,}")
        table.add_row("readings produced", f"{self.produced:,} ({self.malformed_sent:,} malformed)")
        table.add_row("cleaned", f"{self.cleaned:,}")
        reasons = ", ".join(f"{r} {n}" for r, n in self.dead_letter_reasons.most_common())
        table.add_row("dead-lettered", f"{self.dead_lettered:,}" + (f" ({reasons})" if reasons else ""))
        injected = ", ".join(f"{kind} {n}" for kind, n in self.injected.most_common())
        table.add_row(
            "injected anomalies",
            f"{sum(self.injected.values()):,}" + (f" ({injected})" if injected else ""),
        )
        episodes = ", ".join(f"{n:,} {problem}" for problem, n in self.health_episodes.most_common())
        table.add_row("sensor health episodes", episodes or "none")
        table.add_row("event time simulated", f"{self.event_hours:.1f} h")
        table.add_row("scored", f"{self.scored:,}")
        table.add_row("flagged anomalous", f"{self.anomalous:,}")
        table.add_row("points in InfluxDB", f"{self.in_influx:,}")
        table.add_row("feed / total seconds", f"{self.feed_seconds:.1f} / {self.total_seconds:.1f}")
        table.add_row("events per second", f"{self.events_per_second:,.0f} (produced to InfluxDB)")
        if self.latency is not None:
            p50, p99 = (f"{seconds * 1000:,.0f} ms" for seconds in self.latency)
            table.add_row("latency, produced to written", f"p50 {p50}, p99 {p99}")
        table.add_row("drained", "yes" if self.drained else "NO: the worker had not caught up")
        return table

    def episode_table(self) -> Table | None:
        """Per injected anomaly type: episodes after warm-up, caught by an alarm, median delay;
        and the false alarms (``None`` before the run's alarms were judged)."""
        if self.episodes is None:
            return None
        header, rows = table_rows(self.episodes)
        table = Table(*header, title=self.episodes.title)
        for row in rows:
            table.add_row(*row)
        return table


async def _latency(ports: list[int]) -> list[float] | None:
    """p50 and p99 of the latency the workers serving their metrics on ``ports`` measured (None
    if one cannot be read: the summary goes without it)."""
    try:
        return latency_quantiles([await scrape(port) for port in ports])
    except (aiohttp.ClientError, OSError, TimeoutError, KeyError, ValueError):
        log.warning("the workers' latency could not be read from their /metrics", exc_info=True)
        return None


async def _dead_letter_reasons(settings: Settings, since: dict[TopicPartition, int]) -> Counter[str]:
    """Tally the reasons of the dead letters written after the offsets ``since``."""
    values = await read_values(settings, settings.topic("readings.deadletter"), since)
    return Counter(DeadLetter.model_validate_json(value).reason.value for value in values)


async def _health_episodes(settings: Settings, since: dict[TopicPartition, int]) -> Counter[str]:
    """Tally the sensor health episodes opened (or, for gaps, found) after the offsets ``since``."""
    events = [
        HealthEvent.model_validate_json(v)
        for v in await read_values(settings, settings.topic("quality"), since)
    ]
    return Counter(e.problem.value for e in events if e.status == "open" or e.problem is Problem.GAP)


async def _watched(settings: Settings, since: str) -> dict[str, Watch]:
    """Each sensor's span of event time after its detector's warm-up in this run, from the reading
    points written since ``since`` (an InfluxQL time condition; see :func:`watched_after_warmup`)."""

    async def times(where: str) -> dict[tuple[str, str], datetime]:
        series = await influxql(
            settings,
            f'SELECT last("seq") FROM "{measurements.READING}" WHERE {where} GROUP BY "sensor_id", "kind"',
        )
        return {
            (s["tags"]["sensor_id"], s["tags"]["kind"]): datetime.fromtimestamp(s["values"][0][0] / 1e9, UTC)
            for s in series
        }

    return watched_after_warmup(await times(f"{since} AND warming_up = true"), await times(since))


async def _episodes(
    settings: Settings, names: TopicNames, offsets: dict[TopicPartition, int], since: str
) -> EpisodeTable:
    """The labels and alarm events published after ``offsets``, judged over the sensors' spans
    after their warm-up (points since ``since``)."""
    labels = [
        Label.model_validate_json(value) for value in await read_values(settings, names.labels, offsets)
    ]
    alarms = [
        Alarm.model_validate_json(value) for value in await read_values(settings, names.alerts, offsets)
    ]
    return judge_episodes(labels, raised_alarms(alarms), await _watched(settings, since))


def for_one_run(settings: Settings, started: datetime) -> Settings:
    """The settings of one run: topics and a consumer group of its own, named after its start.

    The simulator plays the last hour or so of event time and numbers every sensor's readings
    from 1; a second run on shared topics would meet the first run's sensor states, which would
    rightly take its readings for duplicates. A topic prefix chosen by the user is kept.

    >>> from datetime import UTC
    >>> one = for_one_run(Settings(), datetime(2026, 11, 29, 4, 30, tzinfo=UTC))
    >>> one.topic("readings.raw"), one.app_id
    ('run-20261129T043000.readings.raw', 'openlab-run-20261129T043000')
    >>> for_one_run(Settings(topic_prefix="mine."), datetime.now(UTC)).topic_prefix
    'mine.'
    """
    if settings.topic_prefix:
        return settings
    run = f"run-{started.astimezone(UTC):%Y%m%dT%H%M%S}"
    return settings.model_copy(update={"topic_prefix": f"{run}.", "app_id": f"{settings.app_id}-{run}"})


async def until_group_is_stable(
    settings: Settings, workers: int, processes: list[subprocess.Popen[bytes]], seconds: float = 120.0
) -> None:
    """Return once ``workers`` members form the app's consumer group, stable; raise if a worker
    exits or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for number, process in enumerate(processes):
            if process.poll() is not None:
                raise RuntimeError(f"worker {number} exited with {process.returncode}: see its log")
        try:
            if await group_state(settings, settings.app_id) == ("Stable", workers):
                return
        except KafkaError as error:
            if not error.retriable:  # e.g. the group's coordinator is still loading
                raise
        await asyncio.sleep(0.5)
    raise RuntimeError(f"the {workers} workers did not form a stable consumer group in {seconds:.0f} s")


async def run_city(
    settings: Settings,
    *,
    duration: float,
    rate: float | None,
    malformed_rate: float,
    anomaly_rate: float,
    labels_path: Path | None,
    workers: int,
    drain_timeout: float,
    console: Console,
) -> Summary:
    """Run ``workers`` worker processes and the simulated city on a running stack, wait for
    them to drain, count. ``rate`` is readings per second (default: one per sensor)."""
    started = datetime.now(UTC)
    settings = for_one_run(settings, started)
    # The simulator's seed also sets each sensor's phase: one of the run's own keeps its readings
    # off the instants of earlier runs, whose points this run's would otherwise overwrite.
    seed = settings.seed * 10**16 + (started - datetime(2000, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    console.print(
        f"topics: {settings.topic_prefix}*, consumer group {settings.app_id}, simulator seed {seed}"
    )
    names = TopicNames.of(settings)
    registry = load_city(settings)
    await ensure_city_topics(settings, registry)
    summary = Summary(sites=len(registry), sensors=sum(len(s.sensors) for s in registry.sites))
    before = await record_counts(settings, names.all())
    offsets_before = await end_offsets(settings, (names.clean, names.scored, names.deadletter))
    deadletter_before = await end_offsets(settings, (names.deadletter,))
    quality_before = await end_offsets(settings, (names.quality,))
    judged_before = await end_offsets(settings, (names.labels, names.alerts))
    # Event time runs faster than the clock and ends now, so the run's readings are stamped in the
    # recent past, where earlier runs' points may lie: count this run's as the growth there.
    simulator = CitySimulator(registry, seed=seed, anomaly_rate=anomaly_rate)
    plan = plan_feed(simulator, duration=duration, rate=rate or summary.sensors)
    since = f"time >= '{plan.earliest.isoformat()}'"
    points_before = await count_points(settings, since)
    anomalous_before = await count_points(settings, f"{since} AND anomalous = true")
    # Workers share the partitions (one consumer group); each serves its metrics on its own port.
    processes = []
    ports = [settings.worker_web_port + number for number in range(workers) if settings.worker_web_port]
    for number in range(workers):
        log = settings.run_dir / f"worker-{number}.log"
        own = settings.model_copy(update={"worker_web_port": ports[number] if ports else 0})
        processes.append(start_worker(own, log))
        console.print(f"worker {number}: pid {processes[-1].pid}, log {log}")
    # Feed only once every worker has its partitions, so the run's figures measure the pipeline
    # at work rather than a group forming (a rebalance while readings flow loses none: README).
    feed = FeedStats()
    try:
        await until_group_is_stable(settings, workers, processes)
        clock = time.monotonic()
        with Live(console=console, refresh_per_second=2, transient=True) as live:
            feeding = asyncio.create_task(
                feed_city(
                    settings,
                    simulator,
                    duration=duration,
                    speed=plan.speed,
                    start=plan.start,
                    malformed_rate=malformed_rate,
                    labels_path=labels_path,
                    stats=feed,
                )
            )
            deadline = None
            while True:
                await asyncio.sleep(1.0)
                for number, process in enumerate(processes):
                    if process.poll() is not None:
                        raise RuntimeError(f"worker {number} exited with {process.returncode}: see its log")
                counts = await record_counts(settings, names.all())
                lag = await pipeline_lag(settings)
                elapsed = time.monotonic() - clock
                live.update(_progress(elapsed, feed, counts, before, names, lag))
                if feeding.done():
                    await feeding  # raises what the feeder raised
                    if deadline is None:
                        summary.feed_seconds = elapsed
                        deadline = time.monotonic() + drain_timeout
                    if lag == 0:
                        summary.drained = True
                        break
                    if time.monotonic() > deadline:
                        break
        summary.total_seconds = time.monotonic() - clock
        summary.latency = await _latency(ports)
    finally:
        for process in processes:
            stop_worker(process)
    summary.produced = feed.produced
    summary.malformed_sent = feed.malformed
    summary.injected = feed.labels
    if feed.event_start is not None and feed.event_end is not None:
        summary.event_hours = (feed.event_end - feed.event_start).total_seconds() / 3600
    summary.cleaned = await count_records(settings, names.clean, offsets_before)
    summary.dead_lettered = await count_records(settings, names.deadletter, offsets_before)
    summary.scored = await count_records(settings, names.scored, offsets_before)
    summary.dead_letter_reasons = await _dead_letter_reasons(settings, deadletter_before)
    summary.health_episodes = await _health_episodes(settings, quality_before)
    summary.in_influx = await count_points(settings, since) - points_before
    summary.anomalous = await count_points(settings, f"{since} AND anomalous = true") - anomalous_before
    summary.episodes = await _episodes(settings, names, judged_before, since)
    return summary


async def pipeline_lag(settings: Settings) -> int | None:
    """Events the workers have not committed yet: the pass's, the alert router's and the sink's
    (whose points the summary counts in InfluxDB)."""
    names = TopicNames.of(settings)
    lags = [
        await consumer_lag(settings, settings.app_id, (names.raw, names.commands, names.neighbours)),
        await consumer_lag(settings, f"{settings.app_id}-alert-router", (names.alerts,)),
        await consumer_lag(settings, f"{settings.app_id}-sink", (names.points,)),
    ]
    return None if None in lags else sum(lag or 0 for lag in lags)


def _progress(
    elapsed: float,
    feed: FeedStats,
    counts: dict[str, int],
    before: dict[str, int],
    names: TopicNames,
    lag: int | None,
) -> Table:
    table = Table(title=f"openlab run: {elapsed:.0f} s", show_header=True)
    for column in ("produced", "raw", "clean", "dead letters", "scored", "worker lag"):
        table.add_column(column, justify="right")
    delta = {topic: counts[topic] - before[topic] for topic in counts}
    table.add_row(
        f"{feed.produced:,}",
        f"{delta[names.raw]:,}",
        f"{delta[names.clean]:,}",
        f"{delta[names.deadletter]:,}",
        f"{delta[names.scored]:,}",
        "?" if lag is None else f"{lag:,}",
    )
    return table
