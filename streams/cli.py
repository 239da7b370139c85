"""``openlab``: run the city, the worker, and the local service stack."""

from __future__ import annotations

import asyncio

import click
from rich.console import Console
from rich.table import Table

from streams import stack
from streams.http_ingest import ingest
from streams.mqtt_gateway import mqtt_gateway_command
from streams.replay import replay
from streams.settings import Settings
from streams.sites_cli import sites
from streams.topics import ensure_topics

console = Console()


@click.group()
def main() -> None:
    """openlab: smart-city sensor events through Kafka, Faust and InfluxDB.

    Every setting is an OPENLAB_* environment variable (see the README).
    """


@main.command()
@click.option("--duration", default=60.0, show_default=True, help="Seconds of simulated city.")
@click.option("--rate", default=2000.0, show_default=True, help="Readings per second sent.")
@click.option(
    "--malformed-rate",
    default=0.002,
    show_default=True,
    help="Share of events corrupted on purpose, to exercise the dead letters.",
)
@click.option(
    "--drain-timeout",
    default=180.0,
    show_default=True,
    help="Seconds to wait for the worker to catch up after the feed stops.",
)
@click.option("--keep-stack", is_flag=True, help="Leave Kafka and InfluxDB running afterwards.")
def run(duration: float, rate: float, malformed_rate: float, drain_timeout: float, keep_stack: bool) -> None:
    """The whole city through the pipeline on the local stack, then a summary."""
    from streams.job import run_city

    settings = Settings()
    started = stack.up(settings)
    console.print(f"stack: {'started ' + ', '.join(started) if started else 'already running'}")
    try:
        summary = asyncio.run(
            run_city(
                settings,
                duration=duration,
                rate=rate,
                malformed_rate=malformed_rate,
                drain_timeout=drain_timeout,
                console=console,
            )
        )
    finally:
        if not keep_stack:
            for name in started:
                stack.stop_service(settings, name)
            if started:
                console.print(f"stack: stopped {', '.join(started)}, which this run started")
    console.print(summary.table())
    if not summary.drained or summary.in_influx != summary.scored:
        raise click.ClickException("the pipeline did not account for every reading (see above)")


@main.command()
@click.option("--duration", default=60.0, show_default=True, help="Seconds to run ('inf': until stopped).")
@click.option("--rate", default=2000.0, show_default=True, help="Readings per second sent.")
@click.option(
    "--malformed-rate", default=0.0, show_default=True, help="Share of events corrupted on purpose."
)
def simulate(duration: float, rate: float, malformed_rate: float) -> None:
    """Feed the simulated city into readings.raw of a running Kafka (no worker, no stack)."""
    from sensors.simulator import CitySimulator
    from streams.city import load_city
    from streams.feed import feed_city

    settings = Settings()
    simulator = CitySimulator(load_city(settings), seed=settings.seed)
    stats = asyncio.run(
        feed_city(settings, simulator, duration=duration, rate=rate, malformed_rate=malformed_rate)
    )
    console.print(f"sent {stats.produced:,} readings ({stats.malformed:,} malformed on purpose)")


@main.command()
@click.option("--loglevel", default="info", show_default=True)
def worker(loglevel: str) -> None:
    """Run a Faust worker in the foreground (Ctrl-C stops it)."""
    from streams.worker import run_worker

    run_worker(Settings(), loglevel=loglevel)


@main.group(name="stack")
def stack_group() -> None:
    """The local Kafka, InfluxDB and MQTT broker on 127.0.0.1 (no Docker needed)."""


@stack_group.command()
def up() -> None:
    """Obtain (first time), start and wait for Kafka, InfluxDB and mosquitto; create the topics."""
    settings = Settings()
    started = stack.up(settings)
    created = asyncio.run(ensure_topics(settings))
    console.print(f"started: {', '.join(started) or 'nothing (already running)'}")
    if created:
        console.print(f"topics created: {', '.join(created)}")


@stack_group.command()
@click.option("--wipe", is_flag=True, help="Also delete the stack's data.")
def down(wipe: bool) -> None:
    """Stop what `openlab stack up` started."""
    console.print(f"stopped: {', '.join(stack.down(Settings(), wipe=wipe)) or 'nothing'}")


@stack_group.command()
def status() -> None:
    """Whether each service of the local stack runs, with its pid, port and log."""
    table = Table("service", "running", "pid", "port", "log")
    for name, service in stack.status(Settings()).items():
        table.add_row(
            name,
            "yes" if service.running else "no",
            str(service.pid or "-"),
            str(service.port),
            str(service.log),
        )
    console.print(table)


for command in (sites, replay, ingest, mqtt_gateway_command):
    main.add_command(command)
