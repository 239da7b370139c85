"""``python -m bench``: stage costs, then pipeline throughput as a ratio of a pass-through baseline."""

from __future__ import annotations

import asyncio

import click

from bench.stages import stage_costs
from bench.throughput import fill_raw, isolated, passthrough, pipeline
from streams import stack
from streams.city import load_city
from streams.settings import Settings


@click.command()
@click.option(
    "--ticks", default=8, show_default=True, help="Whole-city minutes of readings (about 4,900 each)."
)
@click.option("--stages-only", is_flag=True, help="Only the per-event costs; no services.")
def main(ticks: int, stages_only: bool) -> None:
    settings = Settings()
    click.echo("per-event cost of the pure stages (µs):")
    for stage, micros in stage_costs(load_city(settings), ticks=min(ticks, 4)).items():
        click.echo(f"  {stage:<38} {micros:8.1f}")
    if stages_only:
        return
    started = stack.up(settings)
    try:
        # Each on topics of its own, filled with the same readings.
        alone, run = isolated(settings), isolated(settings)
        events = asyncio.run(fill_raw(alone, ticks))
        baseline = asyncio.run(passthrough(alone, events))
        assert asyncio.run(fill_raw(run, ticks)) == events
        ours = asyncio.run(pipeline(run, events))
    finally:
        for name in started:
            stack.stop_service(settings, name)
    click.echo(f"throughput over {events:,} readings (events/s):")
    click.echo(f"  aiokafka pass-through, 1 hop      {baseline.per_second:10,.0f}")
    click.echo(f"  openlab worker, 3 stages to Influx {ours.per_second:10,.0f}")
    click.echo(f"  ratio openlab / pass-through       {ours.per_second / baseline.per_second:10.3f}")


main()
