"""The worker pipeline under a steady feed of the whole city: delay, CPU per reading, memory per sensor.

Workers run on topics of their own (one consumer group), each serving its Prometheus metrics on a
port of its own. The simulated city is fed into ``readings.raw`` at a steady rate (by default
6,256 readings a second: one per sensor per second) for a given time; the workers are scraped
once before the feed and once after it has drained, and the growth of their counters is what is
reported:

- the readings produced and taken, and the feed rate achieved (the feed shares the machine);
- the latency from a reading's production into Kafka to its point written to InfluxDB, p50 and
  p99 over the whole run, interpolated inside the buckets of the workers' histogram (so only as
  fine as its bounds);
- CPU seconds per 1,000 readings, by step of the pass and in all (``process_cpu_seconds_total``);
  "other" is what no step counts: the Kafka client, the event loop, the InfluxDB client, Faust.
  The send step is timed across its awaits, so it also holds what else ran meanwhile;
- each worker's resident memory when ready and at the end, when every sensor's detector is warm,
  the growth per sensor it holds (the city's sensors shared evenly) and a projection to 100,000
  sensors. The growth also holds buffers and the allocator's slack, so it is an upper bound; the
  memory at ready holds the whole city's registry, which a bigger city would grow too;
- whether the workers kept up: the consumer group's lag on ``readings.raw`` 10 s after the feed's
  end, and how long after it the lag reached 0.

Every figure moves with the machine's other load (the feed itself runs on the same cores): compare
runs on the same machine, and read CPU per reading rather than rates.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import socket
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass

from bench.throughput import until_ready, worker_logs
from sensors.simulation.city import CitySimulator
from streams.city import load_city
from streams.ingest.feed import feed_city
from streams.job import until_group_is_stable
from streams.kafka.groups import consumer_lag
from streams.kafka.topics import TopicNames, ensure_city_topics
from streams.settings import Settings
from streams.stack import create_database
from streams.worker import start_worker, stop_worker
from streams.worker_metrics import Scrape, quantile, scrape

FIRST_PORT = 16066
"""Where the search for the workers' free web ports starts."""

STEPS = ("clean", "score", "alarm", "changelog", "send")
"""The steps of the pass, in their order (``openlab_step_cpu_seconds_total{step=...}``)."""

LAG_LOOK_AFTER = 10.0
"""Seconds after the feed's end at which the lag on ``readings.raw`` is reported."""

DRAIN_TIMEOUT = 120.0
"""Seconds after the feed's end the workers have to take every reading."""

PROJECTED_SENSORS = 100_000
PROJECTED_WORKERS = (1, 2, 4, 8)

MIB = 1024 * 1024


@dataclass(frozen=True)
class Usage:
    """What the workers did between two scrapes: the growth of their counters, summed."""

    readings: float
    cpu_seconds: float
    step_seconds: dict[str, float]
    latency_buckets: dict[float, float]


@dataclass(frozen=True)
class Drain:
    """How the workers caught up once the feed ended."""

    lag_after: int | None
    """The lag on ``readings.raw`` ``LAG_LOOK_AFTER`` s after the feed's end (None: unknown)."""
    seconds: float | None
    """From the feed's end to lag 0 (None: not within ``DRAIN_TIMEOUT``)."""


@dataclass(frozen=True)
class SteadyRun:
    """One run: the feed, each worker's metrics before it and after the drain, and the drain."""

    rate: float
    """The feed rate asked for (readings per second)."""
    produced: int
    feed_seconds: float
    sensors: int
    """Sensors of the city, all of which the feed reaches."""
    ready: list[Scrape]
    end: list[Scrape]
    drain: Drain

    @property
    def workers(self) -> int:
        return len(self.ready)

    @property
    def usage(self) -> Usage:
        return growth(self.ready, self.end)


def free_ports(count: int, first: int = FIRST_PORT) -> list[int]:
    """``count`` local TCP ports from ``first`` up that nothing listens on now."""
    ports: list[int] = []
    port = first
    while len(ports) < count:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
                ports.append(port)
            except OSError:
                pass
        port += 1
    return ports


def growth(starts: list[Scrape], ends: list[Scrape]) -> Usage:
    """The growth of the workers' counters from ``starts`` to ``ends``, summed over the workers."""
    steps: defaultdict[str, float] = defaultdict(float)
    buckets: defaultdict[float, float] = defaultdict(float)
    for start, end in zip(starts, ends, strict=True):
        for step, seconds in end.step_seconds.items():
            steps[step] += seconds - start.step_seconds.get(step, 0.0)
        for bound, count in end.latency_buckets.items():
            buckets[bound] += count - start.latency_buckets.get(bound, 0.0)
    return Usage(
        readings=sum(end.readings - start.readings for start, end in zip(starts, ends, strict=True)),
        cpu_seconds=sum(end.cpu_seconds - start.cpu_seconds for start, end in zip(starts, ends, strict=True)),
        step_seconds=dict(steps),
        latency_buckets=dict(sorted(buckets.items())),
    )


def highest_bucket(buckets: dict[float, float]) -> float:
    """The upper bound of the highest bucket holding an observation (infinity: beyond every bound).

    >>> highest_bucket({0.1: 10.0, 0.2: 60.0, 0.5: 60.0, math.inf: 60.0})
    0.2
    """
    counts = list(buckets.values())
    return list(buckets)[bisect.bisect_left(counts, counts[-1])]


def check_running(processes: list[subprocess.Popen[bytes]]) -> None:
    """Raise if a worker has exited."""
    for number, process in enumerate(processes):
        if process.poll() is not None:
            raise RuntimeError(f"worker {number} exited with {process.returncode}: see its log")


async def drain(settings: Settings, processes: list[subprocess.Popen[bytes]]) -> Drain:
    """Look at the group's lag on ``readings.raw`` once a second from the feed's end until it is 0."""
    raw = TopicNames.of(settings).raw
    ended = time.monotonic()
    lag_after: int | None = None
    while time.monotonic() - ended < DRAIN_TIMEOUT:
        check_running(processes)
        lag = await consumer_lag(settings, settings.app_id, (raw,))
        elapsed = time.monotonic() - ended  # when the look ended: the lag was this by then
        if elapsed >= LAG_LOOK_AFTER and lag_after is None:
            lag_after = lag
        if lag == 0:
            # Committed offsets only advance: a lag of 0 before the look stays 0 at it.
            return Drain(lag_after=0 if lag_after is None else lag_after, seconds=elapsed)
        await asyncio.sleep(1.0)  # each look opens Kafka clients: keep them rare
    return Drain(lag_after=lag_after, seconds=None)


async def steady(settings: Settings, *, rate: float, seconds: float, workers: int) -> SteadyRun:
    """Feed the city at ``rate`` readings a second for ``seconds`` to ``workers`` workers; scrape
    them before the feed and once they have drained (or ``DRAIN_TIMEOUT`` has passed)."""
    city = load_city(settings)
    await ensure_city_topics(settings, city)
    create_database(settings)
    simulator = CitySimulator(city, seed=settings.seed)
    ports = free_ports(workers)
    logs = worker_logs(settings, workers)
    processes = [
        start_worker(settings.model_copy(update={"worker_web_port": port}), log)
        for port, log in zip(ports, logs, strict=True)
    ]
    try:
        await until_ready(processes, logs)
        # Feed only once every worker has its partitions (see streams.job.run_city).
        await until_group_is_stable(settings, workers, processes)
        ready = [await scrape(port) for port in ports]
        started = time.perf_counter()
        feed = await feed_city(settings, simulator, duration=seconds, rate=rate)
        feed_seconds = time.perf_counter() - started
        drained = await drain(settings, processes)
        end = [await scrape(port) for port in ports]
    finally:
        for process in processes:
            stop_worker(process)
    return SteadyRun(
        rate=rate,
        produced=feed.produced,
        feed_seconds=feed_seconds,
        sensors=len(list(city.sensors())),
        ready=ready,
        end=end,
        drain=drained,
    )


def summary(run: SteadyRun) -> Iterator[str]:
    """The lines that report ``run``."""
    usage = run.usage
    if usage.readings <= 0:
        raise RuntimeError("the workers took no readings: see their logs")
    yield from feed_lines(run, usage)
    yield from latency_lines(usage)
    yield from cpu_lines(usage)
    yield from memory_lines(run)


def row(label: str, figure: str) -> str:
    """One figure of the report, under its label."""
    return f"  {label:<44} {figure:>12}"


def feed_lines(run: SteadyRun, usage: Usage) -> Iterator[str]:
    """Readings produced and taken, the feed rate, and whether the workers kept up."""
    lag, seconds = run.drain.lag_after, run.drain.seconds
    yield f"steady feed of {run.sensors:,} sensors for {run.feed_seconds:.0f} s, {run.workers} worker(s):"
    yield row("readings produced", f"{run.produced:,}")
    yield row("readings the workers took", f"{usage.readings:,.0f}")
    yield row(f"feed rate, readings/s (asked {run.rate:,.0f})", f"{run.produced / run.feed_seconds:,.0f}")
    yield row(
        f"lag on readings.raw {LAG_LOOK_AFTER:.0f} s after the feed", "unknown" if lag is None else f"{lag:,}"
    )
    yield row(
        "drained in (s after the feed)", f"> {DRAIN_TIMEOUT:.0f}" if seconds is None else f"{seconds:.1f}"
    )
    yield row("kept up", "yes" if lag == 0 else "no")


def latency_lines(usage: Usage) -> Iterator[str]:
    """p50, p99 and the highest bucket of the readings' latency."""
    buckets = usage.latency_buckets
    yield "latency from produced into Kafka to written to InfluxDB (ms):"
    if not buckets or list(buckets.values())[-1] == 0:
        yield "  no reading written"
        return
    highest = highest_bucket(buckets)
    yield row("p50", f"{quantile(0.5, buckets) * 1000:,.0f}")
    yield row("p99", f"{quantile(0.99, buckets) * 1000:,.0f}")
    if math.isinf(highest):
        yield row(
            "max (beyond the highest bound)", f"> {max(b for b in buckets if b < math.inf) * 1000:,.0f}"
        )
    else:
        yield row("max (in the bucket up to)", f"{highest * 1000:,.0f}")


def cpu_lines(usage: Usage) -> Iterator[str]:
    """CPU per 1,000 readings by step, what no step counts, and in all."""
    per_thousand = 1000 / usage.readings
    in_steps = sum(usage.step_seconds.values())
    yield "CPU seconds per 1,000 readings (all workers):"
    for step in [*STEPS, *sorted(set(usage.step_seconds) - set(STEPS))]:
        yield row(step, f"{usage.step_seconds.get(step, 0.0) * per_thousand:.4f}")
    yield row("all steps", f"{in_steps * per_thousand:.4f}")
    yield row(
        "other (Kafka, event loop, InfluxDB, Faust)", f"{(usage.cpu_seconds - in_steps) * per_thousand:.4f}"
    )
    yield row("total (process_cpu_seconds_total)", f"{usage.cpu_seconds * per_thousand:.4f}")


def memory_lines(run: SteadyRun) -> Iterator[str]:
    """Each worker's memory when ready and at the end, per sensor held, and projected."""
    held = run.sensors / run.workers
    per_sensor = [
        (end.rss_bytes - ready.rss_bytes) / held for ready, end in zip(run.ready, run.end, strict=True)
    ]
    yield f"resident memory, {held:,.0f} sensors held per worker:"
    yield f"  {'':<12} {'ready MiB':>12} {'end MiB':>12} {'KiB/sensor':>12}"
    for number, (ready, end, grown) in enumerate(zip(run.ready, run.end, per_sensor, strict=True)):
        yield (
            f"  {f'worker {number}':<12} {ready.rss_bytes / MIB:12.1f} {end.rss_bytes / MIB:12.1f}"
            f" {grown / 1024:12.2f}"
        )
    base = sum(ready.rss_bytes for ready in run.ready) / run.workers
    mean_per_sensor = sum(per_sensor) / run.workers
    yield f"projected to {PROJECTED_SENSORS:,} sensors shared by the workers (MiB):"
    yield f"  {'workers':<12} {'per worker':>12} {'in all':>12}"
    for workers in PROJECTED_WORKERS:
        each = base + mean_per_sensor * PROJECTED_SENSORS / workers
        yield f"  {workers:<12} {each / MIB:12.0f} {each * workers / MIB:12.0f}"
