"""``python -m bench``: what openlab costs and how fast it goes, each beside a baseline run alongside.

``all`` (what ``make bench`` runs) prints the stage costs, the worker's throughput against an
aiokafka pass-through, the workers' latency, CPU and memory under a steady feed of the city, the
simulator's produce rate against a raw aiokafka producer, and the alarms' latency.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import click

from bench.alarm_latency import alarm_latency, one_hop
from bench.detector_cost import micros_per_reading
from bench.produce import prebuilt_messages, raw_producer, simulator_feed
from bench.stages import stage_costs
from bench.steady import steady, summary
from bench.throughput import Throughput, fill_raw, isolated, passthrough, pipeline
from models.detectors.registry import DEFAULT_DETECTOR, DETECTORS, NAMED_DETECTORS
from streams import stack
from streams.city import load_city
from streams.settings import Settings


@contextmanager
def local_stack(settings: Settings) -> Iterator[None]:
    """The local stack for the benchmark; stops afterwards only what it started."""
    started = stack.up(settings)
    try:
        yield
    finally:
        for name in started:
            stack.stop_service(settings, name)


def ratio_lines(title: str, ours: tuple[str, float], baseline: tuple[str, float]) -> None:
    click.echo(title)
    for name, rate in (baseline, ours):
        click.echo(f"  {name:<40} {rate:12,.0f}")
    click.echo(f"  {'ratio':<40} {ours[1] / baseline[1]:12.3f}")


@click.group()
def main() -> None:
    """Benchmarks of openlab on this machine (figures move with its other load: read the ratios)."""


@main.command()
@click.option("--warm", default=8, show_default=True, help="Whole-city minutes that warm the sensors up.")
@click.option("--ticks", default=8, show_default=True, help="Whole-city minutes timed after them.")
def stages(warm: int, ticks: int) -> None:
    """CPU per reading of each step of the pass, without services."""
    settings = Settings()
    click.echo(f"CPU per reading of each step of the pass, over {ticks} whole-city minutes (µs):")
    for step, micros in stage_costs(settings, load_city(settings), warm=warm, timed=ticks).items():
        click.echo(f"  {step:<48} {micros:8.1f}")


@main.command(name="pipeline")
@click.option(
    "--ticks", default=120, show_default=True, help="Whole-city minutes of readings (about 4,900 each)."
)
@click.option(
    "--workers",
    "worker_counts",
    multiple=True,
    type=int,
    default=(1, 2, 4),
    show_default=True,
    help="Worker processes sharing the partitions (repeat for several runs).",
)
def pipeline_command(ticks: int, worker_counts: tuple[int, ...]) -> None:
    """The workers' throughput into InfluxDB against an aiokafka pass-through, in the same run."""
    settings = Settings()
    runs: list[tuple[int, Throughput]] = []
    with local_stack(settings):
        # Each on topics of its own, filled with the same readings.
        with isolated(settings) as alone:
            events = asyncio.run(fill_raw(alone, ticks))
            baseline = asyncio.run(passthrough(alone, events))
        for workers in worker_counts:
            with isolated(settings) as run:
                if asyncio.run(fill_raw(run, ticks)) != events:
                    raise click.ClickException("the fills differ")
                runs.append((workers, asyncio.run(pipeline(run, events, workers))))
    click.echo(
        f"throughput over {events:,} readings (readings/s, from a stable group on), and ratio to the"
        " pass-through:"
    )
    click.echo(f"  {'aiokafka pass-through, 1 hop':<52} {baseline.per_second:10,.0f}")
    for workers, ours in runs:
        name = f"openlab, {workers} worker(s): clean, health, score, alarm, sink"
        click.echo(f"  {name:<52} {ours.per_second:10,.0f} {ours.per_second / baseline.per_second:8.3f}")


@main.command(name="steady")
@click.option("--rate", default=6256.0, show_default=True, help="Readings a second (6,256: one per sensor).")
@click.option("--seconds", default=300.0, show_default=True, help="How long the feed runs.")
@click.option("--workers", default=2, show_default=True, help="Worker processes sharing the partitions.")
def steady_command(rate: float, seconds: float, workers: int) -> None:
    """Latency, CPU per reading and memory per sensor of the workers under a steady feed of the city."""
    settings = Settings()
    with local_stack(settings), isolated(settings) as own:
        run = asyncio.run(steady(own, rate=rate, seconds=seconds, workers=workers))
    for line in summary(run):
        click.echo(line)


@main.command()
@click.option("--seconds", default=15.0, show_default=True, help="How long the feed runs flat out.")
def produce(seconds: float) -> None:
    """The simulator's sustained produce rate against a raw aiokafka producer of pre-built messages."""
    settings = Settings()
    with local_stack(settings):
        with isolated(settings) as own:
            feed = asyncio.run(simulator_feed(own, seconds))
        messages = prebuilt_messages(settings, feed.events)
        with isolated(settings) as own:
            baseline = asyncio.run(raw_producer(own, messages))
    ratio_lines(
        f"produce rate into Kafka, {feed.events:,} readings each (readings/s):",
        ("openlab simulator feed (simulate + send)", feed.per_second),
        ("raw aiokafka producer, pre-built", baseline.per_second),
    )


@main.command()
@click.option("--trials", default=20, show_default=True, help="Sensors, each opening one alarm.")
def alarms(trials: int) -> None:
    """Time from an anomalous reading entering readings.raw to its alarm on the owner's topic."""
    settings = Settings()
    with local_stack(settings):
        with isolated(settings) as own:
            run = own.model_copy(update={"sites": 300})
            ours = asyncio.run(alarm_latency(run, settings.run_dir / "bench-alarms-worker.log", trials))
        with isolated(settings) as own:
            baseline = asyncio.run(one_hop(own, trials))
    click.echo(f"latency over {trials} alarms (ms):")
    click.echo(f"  {'':<46} {'median':>8} {'p99':>8}")
    for name, figures in (
        ("one Kafka hop (produce to consume)", baseline),
        ("reading in to owner's alarm", ours),
    ):
        click.echo(f"  {name:<46} {figures.median * 1000:8.1f} {figures.p99 * 1000:8.1f}")
    click.echo(f"  {'ratio (median)':<46} {ours.median / baseline.median:8.1f}")


@main.command()
@click.option(
    "--detector",
    "names",
    multiple=True,
    type=click.Choice(sorted(NAMED_DETECTORS)),
    help=f"A detector to time (repeat for several) [default: all of ours, {DEFAULT_DETECTOR} first].",
)
@click.option("--readings", default=50_000, show_default=True, help="Readings timed after the warm-up.")
@click.option("--warmup", default=1_000, show_default=True, help="Readings learnt first, not timed.")
def detectors(names: tuple[str, ...], readings: int, warmup: int) -> None:
    """CPU per reading of each named detector's observe alone, on one made-up minute-by-minute sensor."""
    click.echo(f"CPU per reading of observe, over {readings:,} readings after {warmup:,} (µs):")
    for name in names or (DEFAULT_DETECTOR, *sorted(set(DETECTORS) - {DEFAULT_DETECTOR})):
        click.echo(f"  {name:<48} {micros_per_reading(NAMED_DETECTORS[name], readings, warmup):8.1f}")


@main.command(name="all")
@click.pass_context
def run_all(context: click.Context) -> None:
    """Every benchmark above with its defaults."""
    for command in (stages, pipeline_command, steady_command, produce, alarms):
        context.invoke(command)


main()
