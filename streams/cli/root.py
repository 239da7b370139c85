"""``openlab``: run the city, the worker, and the local service stack."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from sensors.simulation.city import DEFAULT_ANOMALY_RATE, CitySimulator
from streams import stack
from streams.cli.agents import agents
from streams.cli.alerts import alerts
from streams.cli.dashboards import dashboards
from streams.cli.devices import devices
from streams.cli.evaluate import evaluate
from streams.cli.models import models_group
from streams.cli.owners import owners
from streams.cli.sites import sites
from streams.ingest.http_endpoint import ingest
from streams.ingest.mqtt_gateway import mqtt_gateway_command
from streams.ingest.replay import replay
from streams.kafka.clients import ensure_login_file
from streams.kafka.topics import TopicNames, ensure_city_topics
from streams.settings import Settings
from streams.stack.kafka import login_file, register_login

console = Console()

anomaly_rate_option = click.option(
    "--anomaly-rate",
    default=DEFAULT_ANOMALY_RATE,
    show_default=True,
    help="Injected anomalies per sensor-hour of event time.",
)
labels_option = click.option(
    "--labels", "labels_path", type=click.Path(path_type=Path), help="Also write the labels here (JSONL)."
)


@contextmanager
def _local_stack(settings: Settings, keep: bool) -> Iterator[None]:
    """The local stack for one command: started where it does not run, and afterwards what was
    started stopped again, unless ``keep``."""
    started = stack.up(settings)
    console.print(f"stack: {'started ' + ', '.join(started) if started else 'already running'}")
    try:
        yield
    finally:
        if not keep:
            for name in started:
                stack.stop_service(settings, name)
            if started:
                console.print(f"stack: stopped {', '.join(started)}, which this command started")


@click.group()
def main() -> None:
    """openlab: smart-city sensor events through Kafka, Faust and InfluxDB.

    Every setting is an OPENLAB_* environment variable (see the README).
    """


@main.command()
@click.option(
    "--duration",
    default=150.0,
    show_default=True,
    help="Seconds of simulated city (the default plays about 75 minutes of event time: past the"
    " detectors' warm-up of 60 readings).",
)
@click.option(
    "--rate",
    type=float,
    show_default="one reading a second per sensor: 6,256 for the generated city",
    help="Readings per second sent.",
)
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
@anomaly_rate_option
@labels_option
@click.option(
    "--workers",
    default=min(os.cpu_count() or 1, 4),
    show_default="the cores, at most 4",
    help="Worker processes sharing the partitions.",
)
@click.option("--keep-stack", is_flag=True, help="Leave the stack's services running afterwards.")
def run(
    duration: float,
    rate: float | None,
    malformed_rate: float,
    drain_timeout: float,
    anomaly_rate: float,
    labels_path: Path | None,
    workers: int,
    keep_stack: bool,
) -> None:
    """The whole city through the pipeline on the local stack, then a summary."""
    from streams.job import run_city

    settings = Settings()
    with _local_stack(settings, keep=keep_stack):
        summary = asyncio.run(
            run_city(
                settings,
                duration=duration,
                rate=rate,
                malformed_rate=malformed_rate,
                anomaly_rate=anomaly_rate,
                labels_path=labels_path,
                workers=workers,
                drain_timeout=drain_timeout,
                console=console,
            )
        )
    console.print(summary.table())
    episodes = summary.episode_table()
    if episodes is not None:
        console.print(episodes)
    # Each valid reading produced must be one point: intermediate topics are at-least-once (a
    # batch replayed after a rebalance is cleaned and scored twice) but points overwrite themselves.
    if not summary.drained or summary.in_influx != summary.produced - summary.malformed_sent:
        raise click.ClickException("the pipeline did not account for every reading (see above)")


@main.command()
@click.option("--duration", default=480.0, show_default=True, help="Seconds the city streams.")
@click.option(
    "--rate",
    type=float,
    show_default="one reading a second per sensor: 6,256 for the generated city",
    help="Readings per second sent.",
)
@click.option(
    "--malformed-rate", default=0.005, show_default=True, help="Share of events corrupted on purpose."
)
@click.option("--seed", type=int, help="Seed of the schedule and the city's readings [default: random].")
@click.option("--workers", default=2, show_default=True, help="Workers at the start.")
@click.option(
    "--warmup", default=45.0, show_default=True, help="Seconds of streaming before the first fault."
)
@click.option("--worker-kills", default=3, show_default=True, help="How many times a worker is killed.")
@click.option("--influx-down", default=30.0, show_default=True, help="Seconds InfluxDB stays stopped.")
@click.option("--worker-freezes", default=2, show_default=True, help="How many times a worker is frozen.")
@click.option(
    "--freeze-seconds",
    default=40.0,
    show_default=True,
    help="Seconds a worker stays frozen (SIGSTOP): longer than its consumer session timeout.",
)
@click.option(
    "--long-influx-down", default=90.0, show_default=True, help="Seconds of the long InfluxDB outage."
)
@click.option(
    "--gaps",
    nargs=2,
    type=float,
    default=(5.0, 20.0),
    show_default=True,
    help="Shortest and longest pause between one fault's recovery and the next fault.",
)
@click.option(
    "--recovery-timeout", default=300.0, show_default=True, help="Seconds a fault may take to recover."
)
@click.option("--drain-timeout", default=300.0, show_default=True, help="Seconds to catch up after the feed.")
@click.option("--keep-stack", is_flag=True, help="Leave the stack's services running afterwards.")
@click.option(
    "--keep-data", is_flag=True, help="Keep the run's topics and database (default: deleted once counted)."
)
def chaos(
    duration: float,
    rate: float | None,
    malformed_rate: float,
    seed: int | None,
    workers: int,
    warmup: float,
    worker_kills: int,
    influx_down: float,
    worker_freezes: int,
    freeze_seconds: float,
    long_influx_down: float,
    gaps: tuple[float, float],
    recovery_timeout: float,
    drain_timeout: float,
    keep_stack: bool,
    keep_data: bool,
) -> None:
    """Stream the city while workers, Kafka, InfluxDB and the MQTT gateway are killed (and workers
    frozen) on a schedule; count every reading, dead letter and alarm event where it landed; fail
    on any loss, or committed records that disagree."""
    from streams.chaos.run import run_chaos
    from streams.chaos.schedule import ChaosRules

    settings = Settings()
    seed = random.randrange(2**32) if seed is None else seed
    rules = ChaosRules(
        worker_kills=worker_kills,
        influx_down_seconds=influx_down,
        worker_freezes=worker_freezes,
        freeze_seconds=freeze_seconds,
        long_influx_down_seconds=long_influx_down,
        shortest_gap_seconds=gaps[0],
        longest_gap_seconds=gaps[1],
    )
    console.print(f"seed {seed}")
    with _local_stack(settings, keep=keep_stack):
        report = asyncio.run(
            run_chaos(
                settings,
                duration=duration,
                rate=rate,
                malformed_rate=malformed_rate,
                rules=rules,
                seed=seed,
                workers=workers,
                warmup=warmup,
                recovery_timeout=recovery_timeout,
                drain_timeout=drain_timeout,
                console=console,
                keep_data=keep_data,
            )
        )
    console.print(report.table())
    if report.failures():
        raise click.ClickException("; ".join(report.failures()))


@main.command()
@click.option("--duration", default=60.0, show_default=True, help="Seconds to run ('inf': until stopped).")
@click.option("--rate", type=float, help="Readings per second sent [default: 2000 unless --speed].")
@click.option("--speed", type=float, help="Event seconds per wall second instead (1: real time).")
@click.option(
    "--malformed-rate", default=0.0, show_default=True, help="Share of events corrupted on purpose."
)
@anomaly_rate_option
@labels_option
def simulate(
    duration: float,
    rate: float | None,
    speed: float | None,
    malformed_rate: float,
    anomaly_rate: float,
    labels_path: Path | None,
) -> None:
    """Feed the simulated city into readings.raw (labels to the labels topic) of a running Kafka."""
    from streams.city import load_city
    from streams.ingest.feed import feed_city

    if rate is not None and speed is not None:
        raise click.UsageError("give --rate or --speed, not both: each follows from the other")
    settings = Settings()
    simulator = CitySimulator(load_city(settings), seed=settings.seed, anomaly_rate=anomaly_rate)
    stats = asyncio.run(
        feed_city(
            settings,
            simulator,
            duration=duration,
            rate=2000.0 if rate is None and speed is None else rate,
            speed=speed,
            malformed_rate=malformed_rate,
            labels_path=labels_path,
        )
    )
    labelled = ", ".join(f"{kind} {n}" for kind, n in stats.labels.most_common()) or "none"
    console.print(
        f"sent {stats.produced:,} readings ({stats.malformed:,} malformed on purpose),"
        f" {stats.labelled:,} labelled anomalies ({labelled})"
    )


@main.command()
@click.option("--loglevel", default="info", show_default=True)
@click.option(
    "--agents",
    help="Stream agents to run beside the pass, comma-separated: names of `openlab agents list`,"
    " module:attribute, or all [default: OPENLAB_AGENTS].",
)
@click.option(
    "--pipeline/--no-pipeline", default=None, help="Run the pass on readings.raw [default: OPENLAB_PIPELINE]."
)
def worker(loglevel: str, agents: str | None, pipeline: bool | None) -> None:
    """Run a Faust worker in the foreground (Ctrl-C stops it)."""
    from streams.worker import run_worker

    settings = Settings()
    chosen = {"agents": agents, "pipeline": pipeline}
    run_worker(
        settings.model_copy(update={k: v for k, v in chosen.items() if v is not None}), loglevel=loglevel
    )


@main.group(name="stack")
def stack_group() -> None:
    """The local Kafka, InfluxDB and MQTT broker on 127.0.0.1 (no Docker needed)."""


@stack_group.command()
def up() -> None:
    """Obtain (first time), start and wait for Kafka, InfluxDB and mosquitto; create the topics
    (the city's owners' alarm topics too)."""
    from streams.city import load_city

    settings = Settings()
    started = stack.up(settings)
    created = asyncio.run(ensure_city_topics(settings, load_city(settings)))
    console.print(f"started: {', '.join(started) or 'nothing (already running)'}")
    owners = TopicNames.of(settings).owner("")
    pipeline = [name for name in created if not name.startswith(owners)]
    if pipeline:
        console.print(f"topics created: {', '.join(pipeline)}")
    if len(created) > len(pipeline):
        console.print(f"owners' alarm topics created: {len(created) - len(pipeline)} ({owners}*)")


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


@stack_group.command()
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Keep the login in this environment file instead, e.g. .env for docker compose.",
)
def credentials(env_file: Path | None) -> None:
    """The pipeline's Kafka login (SCRAM-SHA-512), made if missing; its password is never shown."""
    settings = Settings()
    if env_file is not None:
        login, _ = ensure_login_file(env_file, settings.kafka_user)
    elif stack.status(settings)["kafka"].running:
        env_file, login = login_file(settings), register_login(settings)
    else:
        env_file = login_file(settings)
        login, _ = ensure_login_file(env_file, settings.kafka_user)
    click.echo(f"user {login.user}: in {env_file} (mode 0600; its password is never shown)")
    click.echo(
        f"clients elsewhere: set -a; . {env_file}; set +a; then OPENLAB_KAFKA_HOST and OPENLAB_KAFKA_PORT"
        " name the SASL listener (the local stack's OPENLAB_KAFKA_SASL_HOST, OPENLAB_KAFKA_SASL_PORT)"
    )


for command in (
    sites,
    replay,
    ingest,
    mqtt_gateway_command,
    devices,
    evaluate,
    owners,
    alerts,
    dashboards,
    agents,
    models_group,
):
    main.add_command(command)
